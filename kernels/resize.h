// kernels/resize.h
//
// Bilinear resize of 8-bit interleaved images (HWC), as OpenCV's INTER_LINEAR maps
// coordinates (half-pixel centres, edge clamped): the reference trainer resizes with
// cv2.resize(INTER_LINEAR) when it loads an image (spec § 4 "load"). We compute in
// float and round to nearest, so a value may differ from OpenCV's 11-bit fixed point
// by one level; CPU and CUDA versions agree exactly (same float operations, no
// contraction into FMA). Written here rather than taken from a library because the
// GPU data path needs the same op on the device, with the same result.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shrike::kernels {

struct ImageShape {
  int height;
  int width;
  int channels;
  std::size_t bytes() const {
    return static_cast<std::size_t>(height) * static_cast<std::size_t>(width) *
           static_cast<std::size_t>(channels);
  }
};

// dst: (dst_shape.height, dst_shape.width, C) uint8; src: (src_shape.height, src_shape.width, C)
// uint8; C = src_shape.channels = dst_shape.channels. Equal sizes copy.
void resize_bilinear_u8_cpu(std::uint8_t* dst, ImageShape dst_shape, const std::uint8_t* src,
                            ImageShape src_shape);

#ifdef SHRIKE_WITH_CUDA
// Same contract with device pointers, launched on `stream` (a cudaStream_t).
void resize_bilinear_u8_cuda(std::uint8_t* dst, ImageShape dst_shape, const std::uint8_t* src,
                             ImageShape src_shape, void* stream);
#endif

}  // namespace shrike::kernels
