// kernels/optimizer.cu
//
// CUDA twins of the optimizer's CPU reference (optimizer_update.cpp, see
// optimizer_cuda.h): SGD and Adam/AdamW as one fused pass over the flat buffers (one
// block per UpdateSpan, all groups in one launch), the gradient's sum of squares in
// double with a fixed reduction order, clip_grad_norm_'s scaling with the factor
// computed on the device, scaling and the EMA update.
//
// Bit-identical to the CPU: the CPU is compiled without FMA contraction (ISO C++ mode,
// -ffp-contract=off, and x86-64 without -march has no FMA anyway), while nvcc contracts
// a * b + c into one FMA by default. Every float operation here is therefore written
// with the round-to-nearest intrinsics (__fmul_rn, __fadd_rn, __fsub_rn, __fdiv_rn,
// __fsqrt_rn), which nvcc never contracts, in the CPU's order. The float scalars are
// derived on the host exactly as the CPU derives them.
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/cuda_check.h"
#include "kernels/optimizer_cuda.h"

namespace shrike::kernels {
namespace {

constexpr int kUpdateThreads = 256;
constexpr int kReduceThreads = 256;
// Elements per partial sum of sum_squares_cuda (fixed, so the result does not depend on
// the device).
constexpr std::size_t kSumSquaresChunk = std::size_t{1} << 14;
constexpr int kElementwiseThreads = 256;
constexpr int kMaxElementwiseBlocks = 4096;

struct SgdScalars {
  float lr[kMaxGroupsCuda], momentum[kMaxGroupsCuda], weight_decay[kMaxGroupsCuda];
};

struct AdamScalars {                    // per group, as optimizer_update.cpp's AdamScalars
  float decay_factor[kMaxGroupsCuda];   // AdamW: 1 - lr * wd (1 when no decay)
  float l2[kMaxGroupsCuda];             // Adam: wd added to the gradient
  float neg_step_size[kMaxGroupsCuda];  // -lr / (1 - beta1^step)
  float one_minus_beta1, beta2, one_minus_beta2, bias_correction2_sqrt, eps;
};

__device__ inline std::uint32_t checked_group(const UpdateSpan& span) {
  if (span.group >= static_cast<std::uint32_t>(kMaxGroupsCuda)) __trap();  // a caller bug: fail loudly
  return span.group;
}

// One block per span; the CPU's sgd_span per element.
__global__ void sgd_kernel(float* param, const float* grad, float* buf, const UpdateSpan* spans, SgdScalars s,
                           bool nesterov, bool first_step) {
  const UpdateSpan span = spans[blockIdx.x];
  const std::uint32_t group = checked_group(span);
  const float lr = s.lr[group], momentum = s.momentum[group], weight_decay = s.weight_decay[group];
  for (std::size_t k = threadIdx.x; k < span.count; k += blockDim.x) {
    const std::size_t i = span.offset + k;
    const float p = param[i];
    float g = grad[i];
    if (weight_decay != 0.0f) g = __fadd_rn(g, __fmul_rn(weight_decay, p));
    const float b = first_step ? g : __fadd_rn(__fmul_rn(buf[i], momentum), g);
    buf[i] = b;
    const float direction = nesterov ? __fadd_rn(g, __fmul_rn(momentum, b)) : b;
    param[i] = __fadd_rn(p, __fmul_rn(-lr, direction));
  }
}

// One block per span; the CPU's adam_span per element.
__global__ void adam_kernel(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, const UpdateSpan* spans,
                            AdamScalars s) {
  const UpdateSpan span = spans[blockIdx.x];
  const std::uint32_t group = checked_group(span);
  const float decay_factor = s.decay_factor[group], l2 = s.l2[group], neg_step_size = s.neg_step_size[group];
  for (std::size_t k = threadIdx.x; k < span.count; k += blockDim.x) {
    const std::size_t i = span.offset + k;
    float p = param[i];
    const float g = __fadd_rn(grad[i], __fmul_rn(l2, p));
    p = __fmul_rn(p, decay_factor);
    const float m_old = exp_avg[i];
    const float m = __fadd_rn(m_old, __fmul_rn(s.one_minus_beta1, __fsub_rn(g, m_old)));
    const float v = __fadd_rn(__fmul_rn(exp_avg_sq[i], s.beta2), __fmul_rn(s.one_minus_beta2, __fmul_rn(g, g)));
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), s.bias_correction2_sqrt), s.eps);
    param[i] = __fadd_rn(p, __fmul_rn(neg_step_size, __fdiv_rn(m, denom)));
  }
}

// Sums `value` over the block (blockDim.x == kReduceThreads) in a fixed tree order;
// the result is valid in thread 0.
__device__ double block_sum(double value) {
  __shared__ double partial[kReduceThreads];
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  return partial[0];
}

// partials[block] = sum of x^2 over the block's chunk [block * chunk, min(n, ...)).
__global__ void sum_squares_partial_kernel(double* partials, const float* x, std::size_t n) {
  const std::size_t begin = static_cast<std::size_t>(blockIdx.x) * kSumSquaresChunk;
  const std::size_t end = begin + kSumSquaresChunk < n ? begin + kSumSquaresChunk : n;
  double acc = 0.0;
  for (std::size_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const double v = static_cast<double>(x[i]);
    acc += v * v;  // exact product of two floats in double: an FMA here changes nothing
  }
  const double total = block_sum(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

// *result = sum of partials[0 .. count), one block, fixed order.
__global__ void sum_partials_kernel(double* result, const double* partials, std::size_t count) {
  double acc = 0.0;
  for (std::size_t i = threadIdx.x; i < count; i += blockDim.x) acc += partials[i];
  const double total = block_sum(acc);
  if (threadIdx.x == 0) *result = total;
}

// clip_factor of optimizer_update.cpp: max_norm / (norm + 1e-6) when that is < 1, else 1.
__device__ inline double clip_factor_device(double norm, double max_norm) {
  const double factor = max_norm / (norm + 1e-6);
  return factor < 1.0 ? factor : 1.0;
}

__global__ void clip_kernel(float* x, std::size_t n, const double* sum_squares, double max_norm) {
  const double factor = clip_factor_device(sqrt(*sum_squares), max_norm);
  if (!(factor < 1.0)) return;  // the CPU scales only when clipping
  const float f = static_cast<float>(factor);
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    x[i] = __fmul_rn(x[i], f);
}

__global__ void scale_kernel(float* x, float factor, std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    x[i] = __fmul_rn(x[i], factor);
}

__global__ void ema_kernel(float* ema, const float* model, std::size_t n, float d, float one_minus_d) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float kept = __fmul_rn(ema[i], d);
    const float added = __fmul_rn(one_minus_d, model[i]);
    ema[i] = __fadd_rn(kept, added);
  }
}

// Blocks for a grid-stride loop over n elements.
unsigned elementwise_blocks(std::size_t n) {
  const std::size_t blocks = (n + kElementwiseThreads - 1) / kElementwiseThreads;
  return static_cast<unsigned>(blocks < kMaxElementwiseBlocks ? blocks : kMaxElementwiseBlocks);
}

// The float scalars of optimizer_update.cpp's adam_scalars, per group.
AdamScalars adam_scalars(const AdamGroupsCuda& groups, const AdamSettings& settings) {
  const double step = static_cast<double>(settings.step);
  const double bias_correction1 = 1.0 - std::pow(settings.beta1, step);
  const double bias_correction2 = 1.0 - std::pow(settings.beta2, step);
  AdamScalars s{};
  for (int k = 0; k < kMaxGroupsCuda; ++k) {
    const double lr = groups.lr[k], wd = groups.weight_decay[k];
    s.decay_factor[k] = settings.decoupled_weight_decay ? static_cast<float>(1.0 - lr * wd) : 1.0f;
    s.l2[k] = settings.decoupled_weight_decay ? 0.0f : static_cast<float>(wd);
    s.neg_step_size[k] = static_cast<float>(-(lr / bias_correction1));
  }
  s.one_minus_beta1 = static_cast<float>(1.0 - settings.beta1);
  s.beta2 = static_cast<float>(settings.beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - settings.beta2);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  s.eps = static_cast<float>(settings.eps);
  return s;
}

}  // namespace

void sgd_update_cuda(float* param, const float* grad, float* momentum_buffer, const UpdateSpan* spans, int num_spans,
                     const SgdGroupsCuda& groups, bool nesterov, bool first_step, cudaStream_t stream) {
  if (num_spans <= 0) return;
  SgdScalars s{};
  for (int k = 0; k < kMaxGroupsCuda; ++k) {
    s.lr[k] = static_cast<float>(groups.lr[k]);
    s.momentum[k] = static_cast<float>(groups.momentum[k]);
    s.weight_decay[k] = static_cast<float>(groups.weight_decay[k]);
  }
  sgd_kernel<<<static_cast<unsigned>(num_spans), kUpdateThreads, 0, stream>>>(param, grad, momentum_buffer, spans, s,
                                                                              nesterov, first_step);
  CUDA_CHECK_LAUNCH("sgd_kernel");
}

void adam_update_cuda(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, const UpdateSpan* spans,
                      int num_spans, const AdamGroupsCuda& groups, const AdamSettings& settings, cudaStream_t stream) {
  if (num_spans <= 0) return;
  adam_kernel<<<static_cast<unsigned>(num_spans), kUpdateThreads, 0, stream>>>(param, grad, exp_avg, exp_avg_sq, spans,
                                                                               adam_scalars(groups, settings));
  CUDA_CHECK_LAUNCH("adam_kernel");
}

std::size_t sum_squares_scratch_size(std::size_t n) { return (n + kSumSquaresChunk - 1) / kSumSquaresChunk; }

void sum_squares_cuda(double* result, double* scratch, const float* x, std::size_t n, cudaStream_t stream) {
  const std::size_t blocks = sum_squares_scratch_size(n);
  if (blocks > 0) {
    sum_squares_partial_kernel<<<static_cast<unsigned>(blocks), kReduceThreads, 0, stream>>>(scratch, x, n);
    CUDA_CHECK_LAUNCH("sum_squares_partial_kernel");
  }
  sum_partials_kernel<<<1, kReduceThreads, 0, stream>>>(result, scratch, blocks);  // blocks == 0 writes 0
  CUDA_CHECK_LAUNCH("sum_partials_kernel");
}

void clip_by_norm_cuda(float* x, std::size_t n, const double* sum_squares, double max_norm, cudaStream_t stream) {
  if (n == 0) return;
  clip_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(x, n, sum_squares, max_norm);
  CUDA_CHECK_LAUNCH("clip_kernel");
}

void scale_in_place_cuda(float* x, float factor, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  scale_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(x, factor, n);
  CUDA_CHECK_LAUNCH("scale_kernel");
}

void ema_update_cuda(float* ema, const float* model, std::size_t n, double decay, cudaStream_t stream) {
  if (n == 0) return;
  const float d = static_cast<float>(decay);
  const float one_minus_d = static_cast<float>(1.0 - decay);
  ema_kernel<<<elementwise_blocks(n), kElementwiseThreads, 0, stream>>>(ema, model, n, d, one_minus_d);
  CUDA_CHECK_LAUNCH("ema_kernel");
}

}  // namespace shrike::kernels
