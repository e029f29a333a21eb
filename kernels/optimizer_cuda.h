// kernels/optimizer_cuda.h
//
// CUDA twins of optimizer_update.h: SGD and Adam/AdamW as one fused pass over the flat
// parameter, gradient and state buffers (all parameter groups in one launch, through the
// same UpdateSpan list uploaded once), the global gradient norm (sum of squares in
// double, deterministic: fixed blocks summed in a fixed order), clip_grad_norm_'s
// scaling read from device memory (no host round trip), and the EMA update. Same
// float32 semantics as the CPU references, which the tests compare against.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/optimizer_params.h"  // UpdateSpan, AdamSettings (C++17: the .cu includes this header)
#if __cplusplus >= 202002L
#include "kernels/optimizer_update.h"  // tile_spans and the CPU references, for C++20 callers
#endif

namespace shrike::kernels {

// Hyperparameters of up to 4 groups, as the CPU's SgdGroup / AdamGroup hold them (double);
// the launchers derive and round the float scalars exactly as optimizer_update.cpp does
// (1 - lr * wd and lr / (1 - beta1^step) in double, then rounded to float, as torch does
// with Python scalars), and pass them by value to the kernel. A span's group must be
// < kMaxGroupsCuda (the kernel traps otherwise).
inline constexpr int kMaxGroupsCuda = 4;
struct SgdGroupsCuda {
  double lr[kMaxGroupsCuda] = {}, momentum[kMaxGroupsCuda] = {}, weight_decay[kMaxGroupsCuda] = {};
};
struct AdamGroupsCuda {
  double lr[kMaxGroupsCuda] = {}, weight_decay[kMaxGroupsCuda] = {};
};

// spans: device array of `num_spans` (tile_spans' output, uploaded once).
void sgd_update_cuda(float* param, const float* grad, float* momentum_buffer, const UpdateSpan* spans,
                     int num_spans, const SgdGroupsCuda& groups, bool nesterov, bool first_step,
                     cudaStream_t stream);
void adam_update_cuda(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, const UpdateSpan* spans,
                      int num_spans, const AdamGroupsCuda& groups, const AdamSettings& settings,
                      cudaStream_t stream);

// Blocks of partial sums the norm needs for n elements (scratch for sum_squares_cuda).
std::size_t sum_squares_scratch_size(std::size_t n);
// *result (device) = sum of x^2, in double; scratch: sum_squares_scratch_size(n) doubles.
void sum_squares_cuda(double* result, double* scratch, const float* x, std::size_t n, cudaStream_t stream);
// x *= clip_factor(sqrt(*sum_squares), max_norm), the factor computed on the device.
void clip_by_norm_cuda(float* x, std::size_t n, const double* sum_squares, double max_norm, cudaStream_t stream);
// x *= factor.
void scale_in_place_cuda(float* x, float factor, std::size_t n, cudaStream_t stream);
// ema = d * ema + (1 - d) * model, as ema_update_cpu.
void ema_update_cuda(float* ema, const float* model, std::size_t n, double decay, cudaStream_t stream);

}  // namespace shrike::kernels
