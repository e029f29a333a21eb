// pipeline/data/jpeg_codec.cpp: JPEG decode and encode through the TurboJPEG API
// (libjpeg-turbo 2.1). Grayscale decodes to RGB; CMYK/YCCK (Adobe, inverted) is
// converted as PIL does; a truncated file is a problem, not a grey-filled image.
#include <turbojpeg.h>

#include <fmt/core.h>

#include <cstring>
#include <memory>

#include "pipeline/core/error.h"
#include "pipeline/data/image_codec.h"
#include "pipeline/data/sample_problem.h"

namespace shrike::data {

namespace {

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(static_cast<tjhandle>(handle)); }
};
using TjHandle = std::unique_ptr<void, TjDeleter>;

TjHandle make_handle(bool compress) {
  tjhandle handle = compress ? tjInitCompress() : tjInitDecompress();
  if (handle == nullptr) fail_internal("TurboJPEG init failed: {}", tjGetErrorStr2(nullptr));
  return TjHandle(handle);
}

// One decompressor per thread: creating one costs more than decoding a small image.
tjhandle thread_decompressor() {
  thread_local TjHandle handle = make_handle(false);
  return handle.get();
}

[[noreturn]] void throw_corrupt(const std::string& name, tjhandle handle, const char* stage) {
  std::string reason = tjGetErrorStr2(handle);
  bool truncated = reason.find("Premature end") != std::string::npos;
  throw SampleProblem(truncated ? "truncated image" : "corrupt image", name,
                      fmt::format("{} JPEG ({}: {}); re-export or remove the file",
                                  truncated ? "truncated" : "corrupt", stage, reason));
}

// Adobe CMYK JPEGs store inverted values: R = C * K / 255.
void cmyk_to_rgb(const std::uint8_t* cmyk, std::uint8_t* rgb, std::size_t pixels) {
  for (std::size_t i = 0; i < pixels; ++i) {
    unsigned k = cmyk[4 * i + 3];
    for (int c = 0; c < 3; ++c) rgb[3 * i + c] = static_cast<std::uint8_t>((cmyk[4 * i + c] * k + 127) / 255);
  }
}

}  // namespace

RgbImage decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name) {
  tjhandle handle = thread_decompressor();
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle, bytes.data(), bytes.size(), &width, &height, &subsampling,
                          &colorspace) != 0) {
    throw_corrupt(name, handle, "header");
  }
  if (width <= 0 || height <= 0) throw SampleProblem("corrupt image", name, "JPEG with zero size");
  RgbImage image;
  image.width = width;
  image.height = height;
  const std::size_t pixels = static_cast<std::size_t>(width) * height;
  image.pixels.resize(pixels * 3);
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  std::vector<std::uint8_t> cmyk_pixels(cmyk ? pixels * 4 : 0);
  std::uint8_t* target = cmyk ? cmyk_pixels.data() : image.pixels.data();
  int status = tjDecompress2(handle, bytes.data(), bytes.size(), target, width, 0, height,
                             cmyk ? TJPF_CMYK : TJPF_RGB, TJFLAG_ACCURATEDCT);
  // Warnings (TJERR_WARNING) still produce an image; only a truncated stream, which
  // leaves part of it grey, or a real error, loses the sample.
  if (status != 0) {
    bool warning = tjGetErrorCode(handle) == TJERR_WARNING;
    bool truncated = std::strstr(tjGetErrorStr2(handle), "Premature end") != nullptr;
    if (!warning || truncated) throw_corrupt(name, handle, "data");
  }
  if (cmyk) cmyk_to_rgb(cmyk_pixels.data(), image.pixels.data(), pixels);
  return image;
}

std::vector<std::uint8_t> encode_jpeg(const RgbImage& image, int quality, bool full_chroma) {
  thread_local TjHandle handle = make_handle(true);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (tjCompress2(handle.get(), image.pixels.data(), image.width, 0, image.height, TJPF_RGB,
                  &buffer, &size, full_chroma ? TJSAMP_444 : TJSAMP_420, quality,
                  TJFLAG_ACCURATEDCT) != 0) {
    std::string reason = tjGetErrorStr2(handle.get());
    tjFree(buffer);
    fail_internal("tjCompress2 failed for a {}x{} image: {}", image.width, image.height, reason);
  }
  std::vector<std::uint8_t> out(buffer, buffer + size);
  tjFree(buffer);
  return out;
}

}  // namespace shrike::data
