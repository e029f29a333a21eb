// kernels/pool.cu: max pooling with argmax and nearest upsampling on the GPU, the twins
// of pool_cpu.cpp and upsample_cpu.cpp (pool_cuda.h).
//
// Forward passes: one thread per output element, the window scanned in the CPU's order
// (rows, then columns; padding skipped, which is the same as -inf padding), so the
// argmax (flat input-plane index) picks the first maximum on ties exactly as the CPU
// does. Backward passes are gathers, one thread per input element, never an atomic
// scatter: max pool backward sums, in output order, dy of the outputs whose window covers
// the element and whose argmax is it (SPPF's kernel 5, stride 1 windows overlap, so
// several outputs can pick one input); upsample backward sums its f x f block. The sums
// are therefore deterministic and, in fp32, bit-equal to the CPU's. Values are compared
// and summed in fp32, rounded to T on store. tests/gpu/test_gpu_pool.cpp checks them.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/pool_cuda.h"
#include "kernels/cuda_dtype.cuh"

namespace shrike::kernels {

namespace {

using bf16 = __nv_bfloat16;

constexpr int kThreads = 256;
constexpr std::size_t kMaxBlocks = 8192;  // grid-stride loops cover the rest

unsigned blocks_for(std::size_t n) {
  return static_cast<unsigned>(std::min((n + kThreads - 1) / kThreads, kMaxBlocks));
}

__device__ __forceinline__ std::size_t first_index() {
  return static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::size_t grid_step() { return static_cast<std::size_t>(gridDim.x) * blockDim.x; }

// The pooling geometry in plain ints (Shape4's methods are host-only).
struct PoolDims {
  int in_h, in_w, out_h, out_w, kernel, stride, padding;
};

PoolDims pool_dims(const PoolGeometry& g) {
  const Shape4 out = g.output();
  return {g.input.h, g.input.w, out.h, out.w, g.kernel, g.stride, g.padding};
}

// Thread per output (p, oy, ox), p the (n, c) plane.
template <typename T>
__global__ void maxpool_forward_kernel(T* y, std::int32_t* argmax, const T* x, PoolDims d, std::size_t total) {
  const std::size_t out_plane = static_cast<std::size_t>(d.out_h) * d.out_w;
  const std::size_t in_plane = static_cast<std::size_t>(d.in_h) * d.in_w;
  for (std::size_t o = first_index(); o < total; o += grid_step()) {
    const std::size_t p = o / out_plane;
    const int r = static_cast<int>(o - p * out_plane);
    const int oy = r / d.out_w, ox = r - oy * d.out_w;
    const T* src = x + p * in_plane;
    const int y0 = oy * d.stride - d.padding, x0 = ox * d.stride - d.padding;
    float best = -INFINITY;
    std::int32_t best_index = -1;
    for (int ky = 0; ky < d.kernel; ++ky) {
      const int iy = y0 + ky;
      if (iy < 0 || iy >= d.in_h) continue;
      for (int kx = 0; kx < d.kernel; ++kx) {
        const int ix = x0 + kx;
        if (ix < 0 || ix >= d.in_w) continue;
        const float v = to_f32(src[iy * d.in_w + ix]);
        if (v > best || best_index < 0) {  // the first maximum in scan order, as the CPU
          best = v;
          best_index = iy * d.in_w + ix;
        }
      }
    }
    y[o] = from_f32<T>(best);
    argmax[o] = best_index;
  }
}

// Thread per input (p, iy, ix): dx = sum of dy over the outputs (oy, ox), in row-major
// order, whose window covers (iy, ix) and whose argmax is iy * W + ix. Output oy covers
// rows [oy * stride - padding, oy * stride - padding + kernel), so the covering oy are
// ceil((iy + padding - kernel + 1) / stride) .. floor((iy + padding) / stride), clipped
// to [0, out_h); columns likewise.
template <typename T>
__global__ void maxpool_backward_kernel(T* dx, const T* dy, const std::int32_t* argmax, PoolDims d,
                                        std::size_t total) {
  const std::size_t out_plane = static_cast<std::size_t>(d.out_h) * d.out_w;
  const std::size_t in_plane = static_cast<std::size_t>(d.in_h) * d.in_w;
  for (std::size_t e = first_index(); e < total; e += grid_step()) {
    const std::size_t p = e / in_plane;
    const int index = static_cast<int>(e - p * in_plane);
    const int iy = index / d.in_w, ix = index - iy * d.in_w;
    const int first_row = iy + d.padding - d.kernel + 1, first_col = ix + d.padding - d.kernel + 1;
    const int oy_lo = first_row <= 0 ? 0 : (first_row + d.stride - 1) / d.stride;
    const int ox_lo = first_col <= 0 ? 0 : (first_col + d.stride - 1) / d.stride;
    const int oy_hi = min((iy + d.padding) / d.stride, d.out_h - 1);
    const int ox_hi = min((ix + d.padding) / d.stride, d.out_w - 1);
    const T* grad = dy + p * out_plane;
    const std::int32_t* arg = argmax + p * out_plane;
    float sum = 0.0f;
    for (int oy = oy_lo; oy <= oy_hi; ++oy) {
      for (int ox = ox_lo; ox <= ox_hi; ++ox) {
        const int o = oy * d.out_w + ox;
        if (arg[o] == index) sum += to_f32(grad[o]);
      }
    }
    dx[e] = from_f32<T>(sum);
  }
}

// Thread per output (p, oy, ox) of (N, C, fH, fW): y = x[p, oy / f, ox / f].
template <typename T>
__global__ void upsample_forward_kernel(T* y, const T* x, int in_h, int in_w, int f, std::size_t total) {
  const int out_w = in_w * f;
  const std::size_t out_plane = static_cast<std::size_t>(in_h) * f * out_w;
  const std::size_t in_plane = static_cast<std::size_t>(in_h) * in_w;
  for (std::size_t o = first_index(); o < total; o += grid_step()) {
    const std::size_t p = o / out_plane;
    const std::size_t r = o - p * out_plane;
    const int oy = static_cast<int>(r / out_w), ox = static_cast<int>(r - static_cast<std::size_t>(oy) * out_w);
    y[o] = x[p * in_plane + static_cast<std::size_t>(oy / f) * in_w + ox / f];
  }
}

// Thread per input (p, iy, ix): dx = sum of its f x f block of dy, rows then columns.
template <typename T>
__global__ void upsample_backward_kernel(T* dx, const T* dy, int in_h, int in_w, int f, std::size_t total) {
  const std::size_t out_w = static_cast<std::size_t>(in_w) * f;
  const std::size_t out_plane = static_cast<std::size_t>(in_h) * f * out_w;
  const std::size_t in_plane = static_cast<std::size_t>(in_h) * in_w;
  for (std::size_t e = first_index(); e < total; e += grid_step()) {
    const std::size_t p = e / in_plane;
    const std::size_t r = e - p * in_plane;
    const std::size_t iy = r / in_w, ix = r - iy * in_w;
    const T* block = dy + p * out_plane + iy * f * out_w + ix * f;
    float sum = 0.0f;
    for (int ky = 0; ky < f; ++ky)
      for (int kx = 0; kx < f; ++kx) sum += to_f32(block[ky * out_w + kx]);
    dx[e] = from_f32<T>(sum);
  }
}

}  // namespace

template <typename T>
void maxpool_forward_cuda(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g, cudaStream_t stream) {
  const std::size_t total = g.output().numel();
  if (total == 0) return;
  maxpool_forward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(y, argmax, x, pool_dims(g), total);
  CUDA_CHECK_LAUNCH("maxpool_forward_kernel");
}

template <typename T>
void maxpool_backward_cuda(T* dx, const T* dy, const std::int32_t* argmax, const PoolGeometry& g,
                           cudaStream_t stream) {
  const std::size_t total = g.input.numel();
  if (total == 0) return;
  maxpool_backward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(dx, dy, argmax, pool_dims(g), total);
  CUDA_CHECK_LAUNCH("maxpool_backward_kernel");
}

template <typename T>
void upsample_nearest_forward_cuda(T* y, const T* x, Shape4 input, int factor, cudaStream_t stream) {
  const std::size_t total = input.numel() * static_cast<std::size_t>(factor) * factor;
  if (total == 0) return;
  upsample_forward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(y, x, input.h, input.w, factor, total);
  CUDA_CHECK_LAUNCH("upsample_forward_kernel");
}

template <typename T>
void upsample_nearest_backward_cuda(T* dx, const T* dy, Shape4 input, int factor, cudaStream_t stream) {
  const std::size_t total = input.numel();
  if (total == 0) return;
  upsample_backward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(dx, dy, input.h, input.w, factor, total);
  CUDA_CHECK_LAUNCH("upsample_backward_kernel");
}

#define SHRIKE_POOL_INSTANTIATE(T)                                                                              \
  template void maxpool_forward_cuda<T>(T*, std::int32_t*, const T*, const PoolGeometry&, cudaStream_t);       \
  template void maxpool_backward_cuda<T>(T*, const T*, const std::int32_t*, const PoolGeometry&, cudaStream_t); \
  template void upsample_nearest_forward_cuda<T>(T*, const T*, Shape4, int, cudaStream_t);                     \
  template void upsample_nearest_backward_cuda<T>(T*, const T*, Shape4, int, cudaStream_t);

SHRIKE_POOL_INSTANTIATE(float)
SHRIKE_POOL_INSTANTIATE(__nv_bfloat16)
#undef SHRIKE_POOL_INSTANTIATE

}  // namespace shrike::kernels
