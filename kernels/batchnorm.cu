// kernels/batchnorm.cu: CUDA BatchNorm2d (train and eval), optionally fused with SiLU,
// split for synchronised batch norm as batchnorm_cuda.h describes.
//
// Per-channel reductions (the forward's sum x, sum x^2; the backward's sum g, sum g *
// (x - mean)) are deterministic, with no atomics: a grid of (C, splits) blocks, block
// (c, s) summing a fixed contiguous range of channel c's N * H * W values in double
// (thread t takes every blockDim-th value of the range, then a shared-memory tree in a
// fixed order), into a scratch buffer of partial sums (stream-ordered cudaMallocAsync,
// freed on the stream after use); then one thread per channel adds its `splits`
// partials in index order. `splits` depends only on the shape, so a result never depends
// on the device or the scheduling. The pointwise passes (apply, eval, backward apply)
// walk (n, c) planes on the grid's y dimension, so the channel is known per plane
// without a division per element. Values are loaded as fp32, computed in fp32 (double
// where the CPU reference uses double), rounded to T on store.
// tests/gpu/test_gpu_batchnorm.cpp checks everything against batchnorm_cpu.cpp.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

#include "kernels/batchnorm_cuda.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_dtype.cuh"

namespace shrike::kernels {

namespace {

using bf16 = __nv_bfloat16;

constexpr int kThreads = 256;                 // pointwise passes
constexpr int kReduceThreads = 256;           // reduction blocks (a power of two: the tree halves it)
constexpr std::size_t kValuesPerSplit = 16384;  // at least this many values per reduction block ...
constexpr std::size_t kMaxSplits = 128;         // ... except that a channel gets at most this many blocks

__device__ __forceinline__ float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }
__device__ __forceinline__ float silu(float z) { return z * sigmoid(z); }
// d silu(z) / dz = s * (1 + z * (1 - s)), s = sigmoid(z), as activation_cpu.cpp.
__device__ __forceinline__ float silu_grad(float z) {
  const float s = sigmoid(z);
  return s * (1.0f + z * (1.0f - s));
}
// bn(x) = x * scale + shift with scale = gamma * invstd, shift = beta - mean * scale
// (both taken in double and rounded once, as the CPU reference does): the one formula
// the forward and the fused backward (which recomputes bn(x)) both use.
struct ScaleShift {
  float scale, shift;
};
__device__ __forceinline__ ScaleShift bn_scale_shift(float gamma, double inv, float mean, float beta) {
  const double scale = static_cast<double>(gamma) * inv;
  return {static_cast<float>(scale), static_cast<float>(static_cast<double>(beta) - static_cast<double>(mean) * scale)};
}
__device__ __forceinline__ float bn_affine(float x, ScaleShift a) { return x * a.scale + a.shift; }

// ---- per-channel reductions ----------------------------------------------------------

// Forward terms of one channel: a += x, b += x^2.
template <typename T>
struct ForwardTerms {
  const T* x;
  struct Channel {
    const T* x;
    __device__ void add(std::size_t index, double& a, double& b) const {
      const double v = to_f32(x[index]);
      a += v;
      b += v * v;
    }
  };
  __device__ Channel channel(int) const { return {x}; }
};

// Backward terms of one channel: a += g, b += g * (x - mean), with g = dy, or with
// kSilu g = dy * silu'(bn(x)) (bn(x) recomputed from x).
template <typename T, bool kSilu>
struct BackwardTerms {
  const T* dy;
  const T* x;
  const float *mean, *invstd, *gamma, *beta;
  struct Channel {
    const T* dy;
    const T* x;
    float mean;
    ScaleShift affine;  // used with kSilu only
    __device__ void add(std::size_t index, double& a, double& b) const {
      const float xv = to_f32(x[index]);
      float g = to_f32(dy[index]);
      if (kSilu) g *= silu_grad(bn_affine(xv, affine));
      a += g;
      b += static_cast<double>(g) * (static_cast<double>(xv) - static_cast<double>(mean));
    }
  };
  __device__ Channel channel(int c) const {
    return {dy, x, mean[c], kSilu ? bn_scale_shift(gamma[c], invstd[c], mean[c], beta[c]) : ScaleShift{0.0f, 0.0f}};
  }
};

// How the N * H * W values of one channel are cut into reduction blocks.
struct SplitPlan {
  unsigned splits;        // blocks per channel
  std::size_t per_split;  // values per block (the last one may have fewer)
};

SplitPlan plan_splits(std::size_t count) {
  const std::size_t splits = std::clamp<std::size_t>((count + kValuesPerSplit - 1) / kValuesPerSplit, 1, kMaxSplits);
  return {static_cast<unsigned>(splits), (count + splits - 1) / splits};
}

// Block (c = blockIdx.x, s = blockIdx.y) sums the terms over the values j in
// [s * per_split, min((s + 1) * per_split, N * plane)) of channel c, where value j is
// element (n, c, i) with n = j / plane, i = j % plane; writes the two sums to
// partials[(c * splits + s) * 2 + {0, 1}]. Block size: kReduceThreads.
template <typename Terms>
__global__ void channel_partials_kernel(double* partials, Terms terms, int batch, int channels, std::size_t plane,
                                        SplitPlan plan) {
  __shared__ double shared_a[kReduceThreads];
  __shared__ double shared_b[kReduceThreads];
  const int c = blockIdx.x;
  const unsigned split = blockIdx.y;
  const std::size_t count = static_cast<std::size_t>(batch) * plane;
  const std::size_t begin = split * plan.per_split;
  const std::size_t end = begin + plan.per_split < count ? begin + plan.per_split : count;
  const auto channel = terms.channel(c);
  double a = 0, b = 0;
  std::size_t j = begin + threadIdx.x;
  if (j < end) {
    // (n, i) of value j, moved along with j: a division only when a step leaves the plane.
    std::size_t n = j / plane, i = j - n * plane;
    for (; j < end; j += blockDim.x) {
      channel.add((n * channels + c) * plane + i, a, b);
      i += blockDim.x;
      if (i >= plane) {
        n += i / plane;
        i %= plane;
      }
    }
  }
  shared_a[threadIdx.x] = a;
  shared_b[threadIdx.x] = b;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) {
      shared_a[threadIdx.x] += shared_a[threadIdx.x + half];
      shared_b[threadIdx.x] += shared_b[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    partials[(static_cast<std::size_t>(c) * plan.splits + split) * 2] = shared_a[0];
    partials[(static_cast<std::size_t>(c) * plan.splits + split) * 2 + 1] = shared_b[0];
  }
}

// One thread per channel: sums[c] = sum of the channel's partial a, sums[C + c] = sum of
// its partial b (times scale_b[c] when scale_b is given), partials added in index order.
__global__ void channel_sums_kernel(double* sums, const double* partials, int channels, unsigned splits,
                                    const float* scale_b) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  double a = 0, b = 0;
  for (unsigned s = 0; s < splits; ++s) {
    a += partials[(static_cast<std::size_t>(c) * splits + s) * 2];
    b += partials[(static_cast<std::size_t>(c) * splits + s) * 2 + 1];
  }
  sums[c] = a;
  sums[channels + c] = scale_b != nullptr ? b * static_cast<double>(scale_b[c]) : b;
}

// The two launches of one reduction and their scratch, all on `stream`.
template <typename Terms>
void reduce_channels(double* sums, const Terms& terms, Shape4 s, const float* scale_b, cudaStream_t stream) {
  if (s.c <= 0) return;
  const SplitPlan plan = plan_splits(static_cast<std::size_t>(s.n > 0 ? s.n : 0) * s.plane());
  const std::size_t partial_count = static_cast<std::size_t>(s.c) * plan.splits * 2;
  double* partials = nullptr;
  CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&partials), partial_count * sizeof(double), stream));
  channel_partials_kernel<Terms>
      <<<dim3(static_cast<unsigned>(s.c), plan.splits), kReduceThreads, 0, stream>>>(partials, terms, s.n, s.c,
                                                                                      s.plane(), plan);
  CUDA_CHECK_LAUNCH("channel_partials_kernel");
  channel_sums_kernel<<<(s.c + kThreads - 1) / kThreads, kThreads, 0, stream>>>(sums, partials, s.c, plan.splits,
                                                                                 scale_b);
  CUDA_CHECK_LAUNCH("channel_sums_kernel");
  CUDA_CHECK(cudaFreeAsync(partials, stream));
}

// ---- statistics ----------------------------------------------------------------------

__global__ void finish_stats_kernel(float* mean, float* var, float* invstd, float* running_mean, float* running_var,
                                    const double* sums, int channels, double count, float eps, float momentum) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const double mu = sums[c] / count;
  const double biased = fmax(sums[channels + c] / count - mu * mu, 0.0);  // E[x^2] - mu^2, >= 0
  mean[c] = static_cast<float>(mu);
  if (var != nullptr) var[c] = static_cast<float>(biased);
  invstd[c] = static_cast<float>(1.0 / sqrt(biased + static_cast<double>(eps)));
  const double unbias = count > 1 ? count / (count - 1) : 1.0;
  const double m = momentum;
  if (running_mean != nullptr) running_mean[c] = static_cast<float>((1.0 - m) * running_mean[c] + m * mu);
  if (running_var != nullptr) running_var[c] = static_cast<float>((1.0 - m) * running_var[c] + m * biased * unbias);
}

// ---- pointwise passes (grid: x along a plane, y over the N * C planes) ---------------

dim3 plane_grid(std::size_t plane, std::size_t planes) {
  return dim3(static_cast<unsigned>(std::min<std::size_t>((plane + kThreads - 1) / kThreads, 1024)),
              static_cast<unsigned>(std::min<std::size_t>(planes, 65535)));
}

__device__ __forceinline__ std::size_t first_in_plane() {
  return static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::size_t plane_step() { return static_cast<std::size_t>(gridDim.x) * blockDim.x; }

// y = x * scale[c] + shift[c] (then SiLU), scale/shift from the channel's statistics.
template <typename T, bool kSilu>
__global__ void affine_kernel(T* y, const T* x, const float* mean, const float* invstd, const float* gamma,
                              const float* beta, const float* running_var, float eps, int channels,
                              std::size_t plane, std::size_t planes) {
  for (std::size_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const int c = static_cast<int>(p % channels);
    // Train: invstd given. Eval: from the running variance, in double as the CPU does.
    const double inv = invstd != nullptr ? static_cast<double>(invstd[c])
                                         : 1.0 / sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps));
    const ScaleShift affine = bn_scale_shift(gamma[c], inv, mean[c], beta[c]);
    const T* in = x + p * plane;
    T* out = y + p * plane;
    for (std::size_t i = first_in_plane(); i < plane; i += plane_step()) {
      const float z = bn_affine(to_f32(in[i]), affine);
      out[i] = from_f32<T>(kSilu ? silu(z) : z);
    }
  }
}

// dx = gamma * invstd * (g - sum_g / count - xhat * sum_gxhat / count); dgamma, dbeta
// from local_sums, written once per channel (by block (0, c), thread 0).
template <typename T, bool kSilu>
__global__ void backward_apply_kernel(T* dx, float* dgamma, float* dbeta, const double* sums,
                                      const double* local_sums, double count, const T* dy, const T* x,
                                      const float* mean, const float* invstd, const float* gamma, const float* beta,
                                      int channels, std::size_t plane, std::size_t planes) {
  for (std::size_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const int c = static_cast<int>(p % channels);
    if (p < static_cast<std::size_t>(channels) && blockIdx.x == 0 && threadIdx.x == 0) {
      if (dgamma != nullptr) dgamma[c] = static_cast<float>(local_sums[channels + c]);
      if (dbeta != nullptr) dbeta[c] = static_cast<float>(local_sums[c]);
    }
    const float mu = mean[c], inv = invstd[c];
    const float k = gamma[c] * inv;
    const float mean_g = static_cast<float>(sums[c] / count);
    const float mean_gxhat = static_cast<float>(sums[channels + c] / count);
    const ScaleShift affine = kSilu ? bn_scale_shift(gamma[c], inv, mu, beta[c]) : ScaleShift{0.0f, 0.0f};
    const T* dy_plane = dy + p * plane;
    const T* x_plane = x + p * plane;
    T* dx_plane = dx + p * plane;
    for (std::size_t i = first_in_plane(); i < plane; i += plane_step()) {
      const float xv = to_f32(x_plane[i]);
      float g = to_f32(dy_plane[i]);
      if (kSilu) g *= silu_grad(bn_affine(xv, affine));
      const float xhat = (xv - mu) * inv;
      dx_plane[i] = from_f32<T>(k * (g - mean_g - xhat * mean_gxhat));
    }
  }
}

template <typename T>
void launch_affine(T* y, const T* x, const float* mean, const float* invstd, const float* gamma, const float* beta,
                   const float* running_var, float eps, Shape4 s, bool silu, cudaStream_t stream) {
  const std::size_t plane = s.plane(), planes = static_cast<std::size_t>(s.n) * s.c;
  if (plane == 0 || planes == 0) return;
  const dim3 grid = plane_grid(plane, planes);
  if (silu) {
    affine_kernel<T, true><<<grid, kThreads, 0, stream>>>(y, x, mean, invstd, gamma, beta, running_var, eps, s.c,
                                                           plane, planes);
  } else {
    affine_kernel<T, false><<<grid, kThreads, 0, stream>>>(y, x, mean, invstd, gamma, beta, running_var, eps, s.c,
                                                            plane, planes);
  }
  CUDA_CHECK_LAUNCH("affine_kernel");
}

}  // namespace

template <typename T>
void batchnorm_forward_sums_cuda(double* sums, const T* x, Shape4 shape, cudaStream_t stream) {
  reduce_channels(sums, ForwardTerms<T>{x}, shape, nullptr, stream);
}

void batchnorm_finish_stats_cuda(float* mean, float* var, float* invstd, float* running_mean, float* running_var,
                                 const double* sums, int channels, double count, float eps, float momentum,
                                 cudaStream_t stream) {
  if (channels <= 0) return;
  finish_stats_kernel<<<(channels + kThreads - 1) / kThreads, kThreads, 0, stream>>>(
      mean, var, invstd, running_mean, running_var, sums, channels, count, eps, momentum);
  CUDA_CHECK_LAUNCH("finish_stats_kernel");
}

template <typename T>
void batchnorm_apply_cuda(T* y, const T* x, const float* mean, const float* invstd, const float* gamma,
                          const float* beta, Shape4 shape, bool silu, cudaStream_t stream) {
  launch_affine(y, x, mean, invstd, gamma, beta, nullptr, 0.0f, shape, silu, stream);
}

template <typename T>
void batchnorm_eval_forward_cuda(T* y, const T* x, const float* gamma, const float* beta,
                                 const float* running_mean, const float* running_var, Shape4 shape, float eps,
                                 bool silu, cudaStream_t stream) {
  launch_affine(y, x, running_mean, nullptr, gamma, beta, running_var, eps, shape, silu, stream);
}

template <typename T>
void batchnorm_backward_sums_cuda(double* sums, const T* dy, const T* x, const float* mean, const float* invstd,
                                  const float* gamma, const float* beta, Shape4 shape, bool silu,
                                  cudaStream_t stream) {
  // sums[C + c] = (sum g * (x - mean)) * invstd = sum g * xhat, the product taken once
  // per channel as the CPU reference does.
  if (silu) {
    reduce_channels(sums, BackwardTerms<T, true>{dy, x, mean, invstd, gamma, beta}, shape, invstd, stream);
  } else {
    reduce_channels(sums, BackwardTerms<T, false>{dy, x, mean, invstd, gamma, beta}, shape, invstd, stream);
  }
}

template <typename T>
void batchnorm_backward_apply_cuda(T* dx, float* dgamma, float* dbeta, const double* sums,
                                   const double* local_sums, double count, const T* dy, const T* x,
                                   const float* mean, const float* invstd, const float* gamma, const float* beta,
                                   Shape4 s, bool silu, cudaStream_t stream) {
  const std::size_t plane = s.plane(), planes = static_cast<std::size_t>(s.n) * s.c;
  if (plane == 0 || planes == 0) return;
  const dim3 grid = plane_grid(plane, planes);
  if (silu) {
    backward_apply_kernel<T, true><<<grid, kThreads, 0, stream>>>(dx, dgamma, dbeta, sums, local_sums, count, dy, x,
                                                                   mean, invstd, gamma, beta, s.c, plane, planes);
  } else {
    backward_apply_kernel<T, false><<<grid, kThreads, 0, stream>>>(dx, dgamma, dbeta, sums, local_sums, count, dy,
                                                                    x, mean, invstd, gamma, beta, s.c, plane, planes);
  }
  CUDA_CHECK_LAUNCH("backward_apply_kernel");
}

#define SHRIKE_BATCHNORM_INSTANTIATE(T)                                                                            \
  template void batchnorm_forward_sums_cuda<T>(double*, const T*, Shape4, cudaStream_t);                          \
  template void batchnorm_apply_cuda<T>(T*, const T*, const float*, const float*, const float*, const float*,      \
                                        Shape4, bool, cudaStream_t);                                             \
  template void batchnorm_eval_forward_cuda<T>(T*, const T*, const float*, const float*, const float*,            \
                                               const float*, Shape4, float, bool, cudaStream_t);                 \
  template void batchnorm_backward_sums_cuda<T>(double*, const T*, const T*, const float*, const float*,          \
                                                const float*, const float*, Shape4, bool, cudaStream_t);         \
  template void batchnorm_backward_apply_cuda<T>(T*, float*, float*, const double*, const double*, double,        \
                                                 const T*, const T*, const float*, const float*, const float*,    \
                                                 const float*, Shape4, bool, cudaStream_t);

SHRIKE_BATCHNORM_INSTANTIATE(float)
SHRIKE_BATCHNORM_INSTANTIATE(__nv_bfloat16)
#undef SHRIKE_BATCHNORM_INSTANTIATE

}  // namespace shrike::kernels
