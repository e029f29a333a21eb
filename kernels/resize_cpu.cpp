// kernels/resize_cpu.cpp: the CPU reference of resize_bilinear_u8 (single-threaded:
// callers resize many images in parallel).
#include <cstring>
#include <vector>

#include "kernels/resize.h"
#include "kernels/resize_sampling.h"

namespace shrike::kernels {

void resize_bilinear_u8_cpu(std::uint8_t* dst, ImageShape dst_shape, const std::uint8_t* src,
                            ImageShape src_shape) {
  const int channels = src_shape.channels;
  if (dst_shape.height == src_shape.height && dst_shape.width == src_shape.width) {
    std::memcpy(dst, src, src_shape.bytes());
    return;
  }
  std::vector<LinearTap> columns(static_cast<std::size_t>(dst_shape.width));
  for (int x = 0; x < dst_shape.width; ++x) columns[x] = linear_tap(x, src_shape.width, dst_shape.width);
  const std::size_t src_row = static_cast<std::size_t>(src_shape.width) * channels;
  const std::size_t dst_row = static_cast<std::size_t>(dst_shape.width) * channels;
  for (int y = 0; y < dst_shape.height; ++y) {
    LinearTap row = linear_tap(y, src_shape.height, dst_shape.height);
    const std::uint8_t* top = src + static_cast<std::size_t>(row.index0) * src_row;
    const std::uint8_t* bottom = src + static_cast<std::size_t>(row.index1) * src_row;
    std::uint8_t* out = dst + static_cast<std::size_t>(y) * dst_row;
    for (int x = 0; x < dst_shape.width; ++x) {
      const LinearTap& column = columns[x];
      const std::size_t left = static_cast<std::size_t>(column.index0) * channels;
      const std::size_t right = static_cast<std::size_t>(column.index1) * channels;
      for (int c = 0; c < channels; ++c) {
        out[static_cast<std::size_t>(x) * channels + c] =
            blend_u8(top[left + c], top[right + c], bottom[left + c], bottom[right + c],
                     column.weight1, row.weight1);
      }
    }
  }
}

}  // namespace shrike::kernels
