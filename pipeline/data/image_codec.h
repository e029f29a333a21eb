// pipeline/data/image_codec.h
//
// Turning image files into RGB pixels and back: JPEG through libjpeg-turbo's TurboJPEG
// API (with the EXIF orientation applied, via libexif), PNG through libpng; JPEG
// encoding for `shrike synth` and `shard --encoding jpeg`. The format is sniffed from
// the bytes, not the file name. Bad files throw SampleProblem with a message a user
// can act on ("not a JPEG or PNG (starts with 3c 68 74 6d: an HTML page?)").
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace shrike::data {

// (height, width, 3) RGB, row-major, interleaved.
struct RgbImage {
  int height = 0;
  int width = 0;
  std::vector<std::uint8_t> pixels;
};

enum class ImageFormat { kJpeg, kPng, kUnsupported };

ImageFormat sniff_image_format(std::span<const std::uint8_t> bytes);
// What the first bytes look like, for the error message of an unsupported file.
std::string describe_unsupported_bytes(std::span<const std::uint8_t> bytes);

// Decodes a JPEG or PNG held in memory; `name` is used in problems. JPEGs are turned
// upright by their EXIF orientation tag. Throws SampleProblem.
RgbImage decode_image(std::span<const std::uint8_t> bytes, const std::string& name);
RgbImage decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name);
RgbImage decode_png(std::span<const std::uint8_t> bytes, const std::string& name);

// Reads a whole file. Throws SampleProblem (kind "unreadable image") if it cannot.
std::vector<std::uint8_t> read_file_bytes(const std::string& path);

// EXIF orientation (1..8) of a JPEG, 1 when absent or unreadable.
int jpeg_exif_orientation(std::span<const std::uint8_t> bytes);
// Applies EXIF orientation `orientation` (1..8) to `image`, as PIL's exif_transpose.
RgbImage apply_exif_orientation(const RgbImage& image, int orientation);

// Baseline JPEG of an RGB image. quality 1..100; chroma 4:4:4 when `full_chroma`.
std::vector<std::uint8_t> encode_jpeg(const RgbImage& image, int quality, bool full_chroma);

}  // namespace shrike::data
