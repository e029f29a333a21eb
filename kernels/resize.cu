// kernels/resize.cu: resize_bilinear_u8 on the GPU, one thread per output pixel.
// Same sampling and blend as the CPU reference (resize_sampling.h); the test
// compares them exactly on random images.
#include <cuda_runtime.h>

#include "kernels/cuda_check.h"
#include "kernels/resize.h"
#include "kernels/resize_sampling.h"

namespace shrike::kernels {

namespace {

__global__ void resize_bilinear_u8_kernel(std::uint8_t* dst, ImageShape dst_shape,
                                          const std::uint8_t* src, ImageShape src_shape) {
  int x = blockIdx.x * blockDim.x + threadIdx.x;
  int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= dst_shape.width || y >= dst_shape.height) return;
  const int channels = src_shape.channels;
  LinearTap column = linear_tap(x, src_shape.width, dst_shape.width);
  LinearTap row = linear_tap(y, src_shape.height, dst_shape.height);
  const std::size_t src_row = static_cast<std::size_t>(src_shape.width) * channels;
  const std::uint8_t* top = src + static_cast<std::size_t>(row.index0) * src_row;
  const std::uint8_t* bottom = src + static_cast<std::size_t>(row.index1) * src_row;
  const std::size_t left = static_cast<std::size_t>(column.index0) * channels;
  const std::size_t right = static_cast<std::size_t>(column.index1) * channels;
  std::uint8_t* out =
      dst + (static_cast<std::size_t>(y) * dst_shape.width + x) * static_cast<std::size_t>(channels);
  for (int c = 0; c < channels; ++c) {
    out[c] = blend_u8(top[left + c], top[right + c], bottom[left + c], bottom[right + c],
                      column.weight1, row.weight1);
  }
}

}  // namespace

void resize_bilinear_u8_cuda(std::uint8_t* dst, ImageShape dst_shape, const std::uint8_t* src,
                             ImageShape src_shape, void* stream) {
  auto cuda_stream = static_cast<cudaStream_t>(stream);
  dim3 block(32, 8);
  dim3 grid((dst_shape.width + block.x - 1) / block.x, (dst_shape.height + block.y - 1) / block.y);
  resize_bilinear_u8_kernel<<<grid, block, 0, cuda_stream>>>(dst, dst_shape, src, src_shape);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace shrike::kernels
