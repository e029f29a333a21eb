// pipeline/data/image_decode.cpp: format sniffing, dispatch, file reading, and the
// descriptions of files we cannot decode.
#include <fmt/core.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "pipeline/core/error.h"
#include "pipeline/data/image_codec.h"
#include "pipeline/data/sample_problem.h"

namespace shrike::data {

namespace {
bool starts_with(std::span<const std::uint8_t> bytes, std::string_view magic, std::size_t at = 0) {
  if (bytes.size() < at + magic.size()) return false;
  return std::memcmp(bytes.data() + at, magic.data(), magic.size()) == 0;
}
}  // namespace

ImageFormat sniff_image_format(std::span<const std::uint8_t> bytes) {
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    return ImageFormat::kJpeg;
  }
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n")) return ImageFormat::kPng;
  return ImageFormat::kUnsupported;
}

std::string describe_unsupported_bytes(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return "the file is empty";
  std::string head;
  for (std::size_t i = 0; i < std::min<std::size_t>(4, bytes.size()); ++i) {
    head += fmt::format("{}{:02x}", i ? " " : "", bytes[i]);
  }
  std::string guess;
  if (starts_with(bytes, "BM")) guess = "a BMP image; convert it to PNG or JPEG";
  else if (starts_with(bytes, "GIF8")) guess = "a GIF image; convert it to PNG";
  else if (starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8)) guess = "a WebP image; convert it to PNG or JPEG";
  else if (starts_with(bytes, "II*") || starts_with(bytes, "MM\0*")) guess = "a TIFF image; convert it to PNG";
  else if (starts_with(bytes, "ftyp", 4)) guess = "a HEIF/AVIF image; convert it to JPEG";
  else if (bytes[0] == '<') guess = "an HTML or XML page?";
  else if (bytes[0] == 0xFF && bytes.size() > 1 && bytes[1] == 0xD8) guess = "a damaged JPEG?";
  return fmt::format("not a JPEG or PNG (starts with {}{})", head, guess.empty() ? "" : ": " + guess);
}

RgbImage decode_image(std::span<const std::uint8_t> bytes, const std::string& name) {
  switch (sniff_image_format(bytes)) {
    case ImageFormat::kJpeg: {
      RgbImage image = decode_jpeg(bytes, name);
      int orientation = jpeg_exif_orientation(bytes);
      return orientation == 1 ? image : apply_exif_orientation(image, orientation);
    }
    case ImageFormat::kPng:
      return decode_png(bytes, name);
    case ImageFormat::kUnsupported:
      break;
  }
  throw SampleProblem("unsupported image format", name, describe_unsupported_bytes(bytes));
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw SampleProblem("unreadable image", path, "cannot open: " + errno_text(errno));
  std::vector<std::uint8_t> bytes;
  std::uint8_t block[1 << 16];
  while (std::size_t n = std::fread(block, 1, sizeof block, file.get())) {
    bytes.insert(bytes.end(), block, block + n);
  }
  if (std::ferror(file.get())) throw SampleProblem("unreadable image", path, "I/O error while reading");
  return bytes;
}

}  // namespace shrike::data
