// kernels/elementwise.cu: the CUDA twins of activation.h and elementwise.h (SiLU, add,
// accumulate, channel-range copies), the mixed-precision casts, the per-channel bias and
// its gradient, and the uint8 image -> network input conversion (elementwise_cuda.h).
//
// Every pointwise op is one grid-stride loop, one element per thread per step; values
// are loaded as fp32, computed in fp32 and rounded to T once on store (bf16: round to
// nearest even). The bias gradient is a per-channel reduction: one block per channel,
// each thread summing a fixed strided subset in double, then a shared-memory tree in a
// fixed order, so the result does not depend on scheduling (no atomics). Nothing here
// synchronises the stream. tests/gpu/test_gpu_elementwise.cpp checks every op against
// the CPU references.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda_check.h"
#include "kernels/elementwise_cuda.h"
#include "kernels/cuda_dtype.cuh"

namespace shrike::kernels {

namespace {

constexpr int kThreads = 256;
constexpr std::size_t kMaxBlocks = 8192;  // grid-stride loops cover the rest
constexpr int kReduceThreads = 256;       // channel_bias_grad: one block per channel

unsigned blocks_for(std::size_t n) {
  return static_cast<unsigned>(std::min((n + kThreads - 1) / kThreads, kMaxBlocks));
}
// A grid for `rows` rows of `row_length` elements: x covers a row, y walks the rows
// (both grid-stride), so a kernel finds its row without dividing per element.
dim3 row_grid(std::size_t row_length, std::size_t rows) {
  return dim3(static_cast<unsigned>(std::min<std::size_t>((row_length + kThreads - 1) / kThreads, 1024)),
              static_cast<unsigned>(std::min<std::size_t>(rows, 65535)));
}

// Index of the first element of this thread and the grid-stride step.
__device__ __forceinline__ std::size_t first_index() {
  return static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::size_t grid_step() { return static_cast<std::size_t>(gridDim.x) * blockDim.x; }

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

template <typename T>
__global__ void silu_forward_kernel(T* out, const T* inp, std::size_t n) {
  for (std::size_t i = first_index(); i < n; i += grid_step()) {
    const float x = to_f32(inp[i]);
    out[i] = from_f32<T>(x * sigmoid(x));
  }
}

template <typename T>
__global__ void silu_backward_kernel(T* dinp, const T* dout, const T* inp, std::size_t n) {
  for (std::size_t i = first_index(); i < n; i += grid_step()) {
    const float x = to_f32(inp[i]);
    const float s = sigmoid(x);
    dinp[i] = from_f32<T>(to_f32(dout[i]) * s * (1.0f + x * (1.0f - s)));
  }
}

template <typename T>
__global__ void add_kernel(T* out, const T* a, const T* b, std::size_t n) {
  for (std::size_t i = first_index(); i < n; i += grid_step()) out[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}

template <typename T>
__global__ void accumulate_kernel(T* acc, const T* x, std::size_t n) {
  for (std::size_t i = first_index(); i < n; i += grid_step()) acc[i] = from_f32<T>(to_f32(acc[i]) + to_f32(x[i]));
}

// Copies `blocks` blocks of `block` elements from src to dst, where block b starts at
// b * src_stride + src_offset in src and at b * dst_stride + dst_offset in dst (all in
// elements). Concat and split are this with one side contiguous (stride == block).
// Grid: row_grid(block, blocks).
template <typename T>
__global__ void strided_block_copy_kernel(T* dst, std::size_t dst_stride, std::size_t dst_offset, const T* src,
                                          std::size_t src_stride, std::size_t src_offset, std::size_t block,
                                          std::size_t blocks) {
  for (std::size_t b = blockIdx.y; b < blocks; b += gridDim.y) {
    T* out = dst + b * dst_stride + dst_offset;
    const T* in = src + b * src_stride + src_offset;
    for (std::size_t r = first_index(); r < block; r += grid_step()) out[r] = in[r];
  }
}

template <typename From, typename To>
__global__ void cast_kernel(To* out, const From* in, std::size_t n) {
  for (std::size_t i = first_index(); i < n; i += grid_step()) out[i] = from_f32<To>(to_f32(in[i]));
}

template <typename T>
__global__ void accumulate_to_float_kernel(float* acc, const T* x, std::size_t n, bool overwrite) {
  for (std::size_t i = first_index(); i < n; i += grid_step()) {
    const float v = to_f32(x[i]);
    acc[i] = overwrite ? v : acc[i] + v;
  }
}

// y (N, C, H, W) += bias[c]. Grid: row_grid(plane, N * C).
template <typename T>
__global__ void add_channel_bias_kernel(T* y, const float* bias, int channels, std::size_t plane,
                                        std::size_t planes) {
  for (std::size_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const float b = bias[p % channels];
    T* row = y + p * plane;
    for (std::size_t i = first_index(); i < plane; i += grid_step()) row[i] = from_f32<T>(to_f32(row[i]) + b);
  }
}

// One block per channel c: db[c] = sum over (n, i) of dy[(n * C + c) * plane + i].
// Thread t sums i = t, t + blockDim, ... of every image's plane in double, then the
// block adds the partial sums in a fixed tree. Block size: kReduceThreads.
template <typename T>
__global__ void channel_bias_grad_kernel(float* db, const T* dy, int batch, int channels, std::size_t plane) {
  __shared__ double partial[kReduceThreads];
  const int c = blockIdx.x;
  double sum = 0;
  for (int n = 0; n < batch; ++n) {
    const T* row = dy + (static_cast<std::size_t>(n) * channels + c) * plane;
    for (std::size_t i = threadIdx.x; i < plane; i += blockDim.x) sum += to_f32(row[i]);
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[c] = static_cast<float>(partial[0]);
}

// out (N, 3, H, W) = pixels (N, H, W, 3) / 255; one thread per pixel. Grid:
// row_grid(H * W, N).
template <typename T>
__global__ void images_u8_to_nchw_kernel(T* out, const unsigned char* pixels, std::size_t plane, int images) {
  for (std::size_t n = blockIdx.y; n < static_cast<std::size_t>(images); n += gridDim.y) {
    const unsigned char* rgb = pixels + 3 * n * plane;
    T* image = out + 3 * n * plane;
    for (std::size_t i = first_index(); i < plane; i += grid_step()) {
      image[i] = from_f32<T>(static_cast<float>(rgb[3 * i]) / 255.0f);
      image[plane + i] = from_f32<T>(static_cast<float>(rgb[3 * i + 1]) / 255.0f);
      image[2 * plane + i] = from_f32<T>(static_cast<float>(rgb[3 * i + 2]) / 255.0f);
    }
  }
}

}  // namespace

template <typename T>
void silu_forward_cuda(T* out, const T* inp, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  silu_forward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(out, inp, n);
  CUDA_CHECK_LAUNCH("silu_forward_kernel");
}

template <typename T>
void silu_backward_cuda(T* dinp, const T* dout, const T* inp, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  silu_backward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(dinp, dout, inp, n);
  CUDA_CHECK_LAUNCH("silu_backward_kernel");
}

template <typename T>
void add_cuda(T* out, const T* a, const T* b, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(out, a, b, n);
  CUDA_CHECK_LAUNCH("add_kernel");
}

template <typename T>
void accumulate_cuda(T* acc, const T* x, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  accumulate_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(acc, x, n);
  CUDA_CHECK_LAUNCH("accumulate_kernel");
}

template <typename T>
void copy_into_channels_cuda(T* dst, int dst_channels, int offset, const T* src, Shape4 s, cudaStream_t stream) {
  const std::size_t block = static_cast<std::size_t>(s.c) * s.plane();
  if (block == 0 || s.n <= 0) return;
  strided_block_copy_kernel<T><<<row_grid(block, s.n), kThreads, 0, stream>>>(
      dst, static_cast<std::size_t>(dst_channels) * s.plane(), static_cast<std::size_t>(offset) * s.plane(), src,
      block, 0, block, s.n);
  CUDA_CHECK_LAUNCH("strided_block_copy_kernel (copy_into_channels)");
}

template <typename T>
void copy_from_channels_cuda(T* dst, Shape4 d, const T* src, int src_channels, int offset, cudaStream_t stream) {
  const std::size_t block = static_cast<std::size_t>(d.c) * d.plane();
  if (block == 0 || d.n <= 0) return;
  strided_block_copy_kernel<T><<<row_grid(block, d.n), kThreads, 0, stream>>>(
      dst, block, 0, src, static_cast<std::size_t>(src_channels) * d.plane(),
      static_cast<std::size_t>(offset) * d.plane(), block, d.n);
  CUDA_CHECK_LAUNCH("strided_block_copy_kernel (copy_from_channels)");
}

template <typename From, typename To>
void cast_cuda(To* out, const From* in, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  if constexpr (std::is_same_v<From, To>) {
    if (static_cast<const void*>(out) != static_cast<const void*>(in)) {
      CUDA_CHECK(cudaMemcpyAsync(out, in, n * sizeof(To), cudaMemcpyDeviceToDevice, stream));
    }
  } else {
    cast_kernel<From, To><<<blocks_for(n), kThreads, 0, stream>>>(out, in, n);
    CUDA_CHECK_LAUNCH("cast_kernel");
  }
}

template <typename T>
void accumulate_to_float_cuda(float* acc, const T* x, std::size_t n, bool overwrite, cudaStream_t stream) {
  if (n == 0) return;
  accumulate_to_float_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(acc, x, n, overwrite);
  CUDA_CHECK_LAUNCH("accumulate_to_float_kernel");
}

template <typename T>
void add_channel_bias_cuda(T* y, const float* bias, Shape4 s, cudaStream_t stream) {
  const std::size_t plane = s.plane(), planes = static_cast<std::size_t>(s.n) * s.c;
  if (plane == 0 || planes == 0) return;
  add_channel_bias_kernel<T><<<row_grid(plane, planes), kThreads, 0, stream>>>(y, bias, s.c, plane, planes);
  CUDA_CHECK_LAUNCH("add_channel_bias_kernel");
}

template <typename T>
void channel_bias_grad_cuda(float* db, const T* dy, Shape4 s, cudaStream_t stream) {
  if (s.c <= 0) return;
  // An empty batch still writes db = 0 (each block's sum is empty).
  channel_bias_grad_kernel<T><<<s.c, kReduceThreads, 0, stream>>>(db, dy, s.n, s.c, s.plane());
  CUDA_CHECK_LAUNCH("channel_bias_grad_kernel");
}

template <typename T>
void images_u8_to_nchw_cuda(T* out, const unsigned char* pixels, int n, int h, int w, cudaStream_t stream) {
  const std::size_t plane = static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
  if (plane == 0 || n <= 0) return;
  images_u8_to_nchw_kernel<T><<<row_grid(plane, n), kThreads, 0, stream>>>(out, pixels, plane, n);
  CUDA_CHECK_LAUNCH("images_u8_to_nchw_kernel");
}

#define SHRIKE_ELEMENTWISE_INSTANTIATE(T)                                                                       \
  template void silu_forward_cuda<T>(T*, const T*, std::size_t, cudaStream_t);                                   \
  template void silu_backward_cuda<T>(T*, const T*, const T*, std::size_t, cudaStream_t);                        \
  template void add_cuda<T>(T*, const T*, const T*, std::size_t, cudaStream_t);                                  \
  template void accumulate_cuda<T>(T*, const T*, std::size_t, cudaStream_t);                                     \
  template void copy_into_channels_cuda<T>(T*, int, int, const T*, Shape4, cudaStream_t);                        \
  template void copy_from_channels_cuda<T>(T*, Shape4, const T*, int, int, cudaStream_t);                        \
  template void accumulate_to_float_cuda<T>(float*, const T*, std::size_t, bool, cudaStream_t);                  \
  template void add_channel_bias_cuda<T>(T*, const float*, Shape4, cudaStream_t);                                \
  template void channel_bias_grad_cuda<T>(float*, const T*, Shape4, cudaStream_t);                               \
  template void images_u8_to_nchw_cuda<T>(T*, const unsigned char*, int, int, int, cudaStream_t);

SHRIKE_ELEMENTWISE_INSTANTIATE(float)
SHRIKE_ELEMENTWISE_INSTANTIATE(bf16)
#undef SHRIKE_ELEMENTWISE_INSTANTIATE

template void cast_cuda<float, bf16>(bf16*, const float*, std::size_t, cudaStream_t);
template void cast_cuda<bf16, float>(float*, const bf16*, std::size_t, cudaStream_t);
template void cast_cuda<float, float>(float*, const float*, std::size_t, cudaStream_t);
template void cast_cuda<bf16, bf16>(bf16*, const bf16*, std::size_t, cudaStream_t);

}  // namespace shrike::kernels
