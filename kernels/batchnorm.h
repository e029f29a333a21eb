// kernels/batchnorm.h
//
// BatchNorm2d as PyTorch defines it (the reference uses eps 1e-3, momentum 0.03):
//  - train: normalise with the batch statistics (biased variance); the running
//    statistics move by running = (1 - m) * running + m * batch, with the unbiased
//    variance (count / (count - 1));
//  - eval: normalise with the running statistics.
// Statistics are accumulated in double so that float results track a float64
// reference closely. T is float (training) or double (finite-difference tests). Backward writes dx (not accumulated) and dgamma, dbeta
// (written). x, y, dy, dx: (N, C, H, W); per-channel vectors: (C). The _nhwc_ forms
// take x, y, dy, dx in NHWC order (kernels/layout.h), the CPU engine's layout; the
// running-statistics update is the same for both.
#pragma once

#include <cstddef>
#include <functional>

#include "kernels/tensor.h"

namespace shrike::kernels {

// Synchronised batch norm (sync_bn): sums per-channel statistics over the ranks of a
// data-parallel job (in place, doubles), so that every rank normalises with the
// statistics of the global batch. Kernels stay free of MPI: the trainer supplies it.
struct BatchStatsReducer {
  std::function<void(double* values, std::size_t count)> sum;
  int world = 1;  // ranks, each with the same per-rank batch
};

// Training forward. mean, var (biased) and invstd (= 1 / sqrt(var + eps)), all (C),
// are saved for backward and for the running-statistics update.
template <typename T>
void batchnorm_train_forward_cpu(T* y, T* mean, T* var, T* invstd, const T* x,
                                 const T* gamma, const T* beta, Shape4 shape, float eps,
                                 const BatchStatsReducer* reducer = nullptr);
// Moves the running statistics toward the batch statistics saved by the forward pass.
template <typename T>
void batchnorm_update_running_cpu(T* running_mean, T* running_var, const T* mean, const T* var,
                                  Shape4 shape, float momentum);
template <typename T>
void batchnorm_eval_forward_cpu(T* y, const T* x, const T* gamma, const T* beta,
                                const T* running_mean, const T* running_var, Shape4 shape, float eps);
// Backward of the training forward.
template <typename T>
void batchnorm_train_backward_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                  const T* mean, const T* invstd, const T* gamma, Shape4 shape,
                                  const BatchStatsReducer* reducer = nullptr);

// The same three passes on NHWC tensors.
template <typename T>
void batchnorm_train_forward_nhwc_cpu(T* y, T* mean, T* var, T* invstd, const T* x, const T* gamma, const T* beta,
                                      Shape4 shape, float eps, const BatchStatsReducer* reducer = nullptr);
template <typename T>
void batchnorm_eval_forward_nhwc_cpu(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean,
                                     const T* running_var, Shape4 shape, float eps);
template <typename T>
void batchnorm_train_backward_nhwc_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean,
                                       const T* invstd, const T* gamma, Shape4 shape,
                                       const BatchStatsReducer* reducer = nullptr);

// BatchNorm then SiLU in one pass, NHWC: z = silu(bn(x)). The backward takes dz and
// recomputes bn(x) from x, the saved statistics, gamma and beta.
template <typename T>
void batchnorm_silu_train_forward_nhwc_cpu(T* z, T* mean, T* var, T* invstd, const T* x, const T* gamma,
                                           const T* beta, Shape4 shape, float eps,
                                           const BatchStatsReducer* reducer = nullptr);
template <typename T>
void batchnorm_silu_eval_forward_nhwc_cpu(T* z, const T* x, const T* gamma, const T* beta, const T* running_mean,
                                          const T* running_var, Shape4 shape, float eps);
template <typename T>
void batchnorm_silu_train_backward_nhwc_cpu(T* dx, T* dgamma, T* dbeta, const T* dz, const T* x, const T* mean,
                                            const T* invstd, const T* gamma, const T* beta, Shape4 shape,
                                            const BatchStatsReducer* reducer = nullptr);

}  // namespace shrike::kernels
