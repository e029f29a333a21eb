// pipeline/data/png_decode.cpp: PNG decode through libpng, to 8-bit RGB as OpenCV's
// imread(IMREAD_COLOR) gives it: palette expanded, grey to RGB, 16-bit truncated to
// the high byte, alpha dropped (not composited). libpng reports errors by longjmp;
// they become SampleProblems naming the file.
#include <png.h>

#include <csetjmp>
#include <memory>
#include <cstring>
#include <string>

#include "pipeline/data/image_codec.h"
#include "pipeline/data/sample_problem.h"

namespace shrike::data {

namespace {

struct ReadState {
  std::span<const std::uint8_t> bytes;
  std::size_t offset = 0;
  std::string error;
};

void read_from_memory(png_structp png, png_bytep out, png_size_t length) {
  auto* state = static_cast<ReadState*>(png_get_io_ptr(png));
  if (state->offset + length > state->bytes.size()) png_error(png, "unexpected end of file");
  std::memcpy(out, state->bytes.data() + state->offset, length);
  state->offset += length;
}

void on_png_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<ReadState*>(png_get_io_ptr(png));
  if (state != nullptr) state->error = message;
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // benign (e.g. bad iCCP profile)

// Everything libpng may longjmp out of, in its own frame, so that the caller's locals
// are not modified between setjmp and longjmp.
[[gnu::noinline]] void read_png_pixels(png_structp png, png_infop info, RgbImage* image) {
  png_read_info(png, info);
  png_uint_32 width = png_get_image_width(png, info);
  png_uint_32 height = png_get_image_height(png, info);
  png_set_expand(png);  // palette -> RGB, grey < 8 bits -> 8, tRNS -> alpha
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8) {
    png_error(png, "unexpected pixel layout after conversion");
  }
  image->width = static_cast<int>(width);
  image->height = static_cast<int>(height);
  image->pixels.resize(static_cast<std::size_t>(width) * height * 3);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) {
    rows[y] = image->pixels.data() + static_cast<std::size_t>(y) * width * 3;
  }
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
}

}  // namespace

RgbImage decode_png(std::span<const std::uint8_t> bytes, const std::string& name) {
  ReadState state{bytes, 0, {}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, on_png_error, on_png_warning);
  if (png == nullptr) throw SampleProblem("corrupt image", name, "libpng could not start");
  png_infop info = png_create_info_struct(png);
  auto image = std::make_unique<RgbImage>();
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    bool truncated = state.error.find("end of file") != std::string::npos ||
                     state.error.find("Not enough image data") != std::string::npos;
    throw SampleProblem(truncated ? "truncated image" : "corrupt image", name,
                        (truncated ? "truncated PNG (" : "corrupt PNG (") + state.error +
                            "); re-export or remove the file");
  }
  png_set_read_fn(png, &state, read_from_memory);
  read_png_pixels(png, info, image.get());
  png_destroy_read_struct(&png, &info, nullptr);
  return std::move(*image);
}

}  // namespace shrike::data
