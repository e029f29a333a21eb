// kernels/batchnorm_cuda.h
//
// CUDA BatchNorm2d, the twin of batchnorm.h, split at the two points where synchronised
// batch norm (sync_bn) must sum per-channel statistics over the ranks: the caller gets
// the per-channel sums in a device buffer of doubles, may all-reduce it in place (NCCL),
// then finishes the pass. Without sync_bn the caller just calls the two halves in a row.
// Statistics are accumulated in double (as the CPU reference); x, y, dy, dx are T
// (float or bf16); gamma, beta, mean, var, invstd and the running statistics are fp32.
//
// Fusion with SiLU: the YOLO Conv block is conv -> BN -> SiLU. With `silu` set, the
// forward writes silu(bn(x)) and the backward takes the gradient of that output: bn(x)
// is recomputed from x instead of stored, saving one activation and one pass.
// Shapes: x, y, dy, dx (N, C, H, W); per-channel vectors (C); sums (2C).
#pragma once

#include <cuda_runtime.h>

#include "kernels/tensor.h"

namespace shrike::kernels {

// sums[c] = sum of x over (N, H, W) of channel c; sums[C + c] = sum of x^2 (doubles).
template <typename T>
void batchnorm_forward_sums_cuda(double* sums, const T* x, Shape4 shape, cudaStream_t stream);

// From sums over `count` values per channel (N*H*W, times the ranks with sync_bn):
// mean, biased var and invstd = 1/sqrt(var + eps); then, when running_mean is not null,
// running = (1 - momentum) * running + momentum * batch (unbiased variance, count/(count-1)).
void batchnorm_finish_stats_cuda(float* mean, float* var, float* invstd, float* running_mean, float* running_var,
                                 const double* sums, int channels, double count, float eps, float momentum,
                                 cudaStream_t stream);

// y = gamma * (x - mean) * invstd + beta, then SiLU when `silu`.
template <typename T>
void batchnorm_apply_cuda(T* y, const T* x, const float* mean, const float* invstd, const float* gamma,
                          const float* beta, Shape4 shape, bool silu, cudaStream_t stream);

// Eval: y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta (then SiLU).
template <typename T>
void batchnorm_eval_forward_cuda(T* y, const T* x, const float* gamma, const float* beta,
                                 const float* running_mean, const float* running_var, Shape4 shape, float eps,
                                 bool silu, cudaStream_t stream);

// Backward, first half: with g = dy (or, when `silu`, dy * silu'(bn(x))) and
// xhat = (x - mean) * invstd: sums[c] = sum g, sums[C + c] = sum g * xhat (doubles).
template <typename T>
void batchnorm_backward_sums_cuda(double* sums, const T* dy, const T* x, const float* mean, const float* invstd,
                                  const float* gamma, const float* beta, Shape4 shape, bool silu,
                                  cudaStream_t stream);

// Backward, second half, from the (possibly all-reduced) sums over `count` values:
// dx = gamma * invstd * (g - sum_g / count - xhat * sum_gxhat / count), written;
// dgamma = sum_gxhat and dbeta = sum_g of this rank's own sums (`local_sums`, the
// values before any all-reduce: the data-parallel gradient all-reduce sums them later),
// written (fp32).
template <typename T>
void batchnorm_backward_apply_cuda(T* dx, float* dgamma, float* dbeta, const double* sums,
                                   const double* local_sums, double count, const T* dy, const T* x,
                                   const float* mean, const float* invstd, const float* gamma, const float* beta,
                                   Shape4 shape, bool silu, cudaStream_t stream);

}  // namespace shrike::kernels
