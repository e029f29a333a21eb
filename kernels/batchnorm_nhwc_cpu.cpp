// kernels/batchnorm_nhwc_cpu.cpp: batch norm on NHWC activations (the CPU engine's
// layout, kernels/layout.h), with the same definitions as batchnorm_cpu.cpp.
//
// x is viewed as (P, C) with P = N * H * W pixels. Per-channel sums are taken in
// double lanes across C, over kChunks fixed row ranges (fixed by the shape, not by the
// thread count, so results do not depend on it) that are added in order afterwards.
//
// The batchnorm_silu_ forms fuse the SiLU that follows nearly every batch norm:
// forward writes z = silu(bn(x)) in the affine pass; backward recomputes bn(x) from x
// and the saved statistics instead of reading a stored BN output, so the pair moves
// x, z and their gradients once instead of also writing and reading bn(x).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/vector_math.h"

namespace shrike::kernels {

namespace {

constexpr int kChunks = 64;

struct RowRange {
  std::size_t begin = 0, rows = 0;
};

RowRange chunk_rows(std::size_t pixels, int chunk) {
  const std::size_t per_chunk = (pixels + kChunks - 1) / kChunks;
  const std::size_t begin = std::min(pixels, static_cast<std::size_t>(chunk) * per_chunk);
  return {begin, std::min(pixels, begin + per_chunk) - begin};
}

// acc (C) += sum over rows of x (rows, C).
SHRIKE_VECTOR_CLONES void rows_sum(double* acc, const float* x, std::size_t rows, int channels) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = x + r * channels;
#pragma omp simd
    for (int c = 0; c < channels; ++c) acc[c] += row[c];
  }
}
void rows_sum(double* acc, const double* x, std::size_t rows, int channels) {
  for (std::size_t r = 0; r < rows; ++r)
    for (int c = 0; c < channels; ++c) acc[c] += x[r * channels + c];
}

// acc (C) += sum over rows of (x - mu)^2.
SHRIKE_VECTOR_CLONES void rows_centered_squares(double* acc, const float* x, std::size_t rows, int channels,
                                                const double* mu) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = x + r * channels;
#pragma omp simd
    for (int c = 0; c < channels; ++c) {
      const double d = static_cast<double>(row[c]) - mu[c];
      acc[c] += d * d;
    }
  }
}
void rows_centered_squares(double* acc, const double* x, std::size_t rows, int channels, const double* mu) {
  for (std::size_t r = 0; r < rows; ++r)
    for (int c = 0; c < channels; ++c) acc[c] += (x[r * channels + c] - mu[c]) * (x[r * channels + c] - mu[c]);
}

// acc (2, C) += sum over rows of dy and of dy * (x - mu).
SHRIKE_VECTOR_CLONES void rows_backward_sums(double* acc, const float* dy, const float* x, std::size_t rows,
                                             int channels, const double* mu) {
  double* sum_dy = acc;
  double* sum_dy_centered = acc + channels;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* g = dy + r * channels;
    const float* v = x + r * channels;
#pragma omp simd
    for (int c = 0; c < channels; ++c) {
      sum_dy[c] += g[c];
      sum_dy_centered[c] += static_cast<double>(g[c]) * (static_cast<double>(v[c]) - mu[c]);
    }
  }
}
void rows_backward_sums(double* acc, const double* dy, const double* x, std::size_t rows, int channels,
                        const double* mu) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (int c = 0; c < channels; ++c) {
      acc[c] += dy[r * channels + c];
      acc[channels + c] += dy[r * channels + c] * (x[r * channels + c] - mu[c]);
    }
  }
}

// y = x * scale + shift per channel.
SHRIKE_VECTOR_CLONES void rows_affine(float* y, const float* x, std::size_t rows, int channels, const float* scale,
                                      const float* shift) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* out = y + r * channels;
    const float* in = x + r * channels;
#pragma omp simd
    for (int c = 0; c < channels; ++c) out[c] = in[c] * scale[c] + shift[c];
  }
}
void rows_affine(double* y, const double* x, std::size_t rows, int channels, const double* scale,
                 const double* shift) {
  for (std::size_t r = 0; r < rows; ++r)
    for (int c = 0; c < channels; ++c) y[r * channels + c] = x[r * channels + c] * scale[c] + shift[c];
}

// z = silu(x * scale + shift) per channel.
SHRIKE_VECTOR_CLONES void rows_affine_silu(float* z, const float* x, std::size_t rows, int channels,
                                           const float* scale, const float* shift) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* out = z + r * channels;
    const float* in = x + r * channels;
#pragma omp simd
    for (int c = 0; c < channels; ++c) {
      const float y = in[c] * scale[c] + shift[c];
      out[c] = y / (1.0f + fast_exp(-y));
    }
  }
}
void rows_affine_silu(double* z, const double* x, std::size_t rows, int channels, const double* scale,
                      const double* shift) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (int c = 0; c < channels; ++c) {
      const double y = x[r * channels + c] * scale[c] + shift[c];
      z[r * channels + c] = y / (1.0 + std::exp(-y));
    }
  }
}

// The gradient reaching bn(x) through the SiLU: dz * silu'(y), y = x * scale + shift.
inline float silu_grad(float dz, float x, float scale, float shift) {
  const float y = x * scale + shift;
  const float s = 1.0f / (1.0f + fast_exp(-y));
  return dz * s * (1.0f + y * (1.0f - s));
}
inline double silu_grad(double dz, double x, double scale, double shift) {
  const double y = x * scale + shift;
  const double s = 1.0 / (1.0 + std::exp(-y));
  return dz * s * (1.0 + y * (1.0 - s));
}

// rows_backward_sums with dy = silu_grad(dz, x), also written to dy_out (the input
// gradient's buffer, which the second pass then updates in place); affine holds
// (scale, shift), each (C).
SHRIKE_VECTOR_CLONES void rows_silu_backward_sums(double* acc, float* dy_out, const float* dz, const float* x,
                                                  std::size_t rows, int channels, const double* mu,
                                                  const float* affine) {
  double* sum_dy = acc;
  double* sum_dy_centered = acc + channels;
  const float *scale = affine, *shift = affine + channels;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* g = dz + r * channels;
    const float* v = x + r * channels;
    float* out = dy_out + r * channels;
#pragma omp simd
    for (int c = 0; c < channels; ++c) {
      const float dy = silu_grad(g[c], v[c], scale[c], shift[c]);
      out[c] = dy;
      sum_dy[c] += dy;
      sum_dy_centered[c] += static_cast<double>(dy) * (static_cast<double>(v[c]) - mu[c]);
    }
  }
}
void rows_silu_backward_sums(double* acc, double* dy_out, const double* dz, const double* x, std::size_t rows,
                             int channels, const double* mu, const double* affine) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (int c = 0; c < channels; ++c) {
      const std::size_t i = r * channels + c;
      const double dy = silu_grad(dz[i], x[i], affine[c], affine[channels + c]);
      dy_out[i] = dy;
      acc[c] += dy;
      acc[channels + c] += dy * (x[i] - mu[c]);
    }
  }
}

// dx = a * dy + b * (x - mu) + offset per channel; k holds (a, b, offset, mu), each (C).
SHRIKE_VECTOR_CLONES void rows_input_grad(float* dx, const float* dy, const float* x, std::size_t rows, int channels,
                                          const float* k) {
  const float *a = k, *b = k + channels, *offset = k + 2 * channels, *mu = k + 3 * channels;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t base = r * channels;
#pragma omp simd
    for (int c = 0; c < channels; ++c) dx[base + c] = a[c] * dy[base + c] + b[c] * (x[base + c] - mu[c]) + offset[c];
  }
}
void rows_input_grad(double* dx, const double* dy, const double* x, std::size_t rows, int channels, const double* k) {
  const double *a = k, *b = k + channels, *offset = k + 2 * channels, *mu = k + 3 * channels;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::size_t base = r * channels;
    for (int c = 0; c < channels; ++c) dx[base + c] = a[c] * dy[base + c] + b[c] * (x[base + c] - mu[c]) + offset[c];
  }
}

// Per-channel totals (width values per row of partials) of kChunks partial sums, added
// in chunk order: out[j] = sum_k partials[k * width + j].
void add_chunks(double* out, const double* partials, int width) {
  std::fill(out, out + width, 0.0);
  for (int k = 0; k < kChunks; ++k)
    for (int j = 0; j < width; ++j) out[j] += partials[static_cast<std::size_t>(k) * width + j];
}

// The calling thread's scratch, reached through pointers inside the parallel loops (each
// OpenMP thread would see its own, empty, thread_local vector).
double* chunk_scratch(std::size_t width) {
  thread_local std::vector<double> storage;
  storage.assign(kChunks * width, 0.0);
  return storage.data();
}

// The affine pass over every row, per-channel scale and shift, then the SiLU if fused.
template <typename T>
void affine_all_rows(T* y, const T* x, std::size_t pixels, int channels, const T* scale, const T* shift, bool silu) {
#pragma omp parallel for schedule(static)
  for (int k = 0; k < kChunks; ++k) {
    const RowRange range = chunk_rows(pixels, k);
    const std::size_t base = range.begin * channels;
    if (silu) {
      rows_affine_silu(y + base, x + base, range.rows, channels, scale, shift);
    } else {
      rows_affine(y + base, x + base, range.rows, channels, scale, shift);
    }
  }
}

// Training forward, with the SiLU fused or not.
template <typename T>
void train_forward(T* y, T* mean, T* var_out, T* invstd, const T* x, const T* gamma, const T* beta, Shape4 s,
                   float eps, const BatchStatsReducer* reducer, bool silu);
template <typename T>
void eval_forward(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                  Shape4 s, float eps, bool silu);
// Backward; with the SiLU fused, dy is the gradient of silu(bn(x)) and beta is needed.
template <typename T>
void train_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean, const T* invstd,
                    const T* gamma, const T* beta, Shape4 s, const BatchStatsReducer* reducer, bool silu);

template <typename T>
void train_forward(T* y, T* mean, T* var_out, T* invstd, const T* x, const T* gamma, const T* beta, Shape4 s,
                   float eps, const BatchStatsReducer* reducer, bool silu) {
  const std::size_t pixels = static_cast<std::size_t>(s.n) * s.plane();
  const int channels = s.c;
  const double count = static_cast<double>(pixels) * (reducer != nullptr ? reducer->world : 1);
  thread_local std::vector<double> sums, squares, mu;
  thread_local std::vector<T> scale, shift;
  sums.assign(channels, 0.0);
  squares.assign(channels, 0.0);
  mu.assign(channels, 0.0);
  scale.assign(channels, T{0});
  shift.assign(channels, T{0});

  double* partials = chunk_scratch(channels);
#pragma omp parallel for schedule(static)
  for (int k = 0; k < kChunks; ++k) {
    const RowRange range = chunk_rows(pixels, k);
    rows_sum(partials + static_cast<std::size_t>(k) * channels, x + range.begin * channels, range.rows, channels);
  }
  add_chunks(sums.data(), partials, channels);
  if (reducer != nullptr) reducer->sum(sums.data(), sums.size());  // sync_bn: statistics of every rank
  for (int c = 0; c < channels; ++c) mu[c] = sums[c] / count;

  // Second pass for the variance: E[(x - mu)^2] is exact where E[x^2] - mu^2 cancels.
  partials = chunk_scratch(channels);
  const double* mu_data = mu.data();
#pragma omp parallel for schedule(static)
  for (int k = 0; k < kChunks; ++k) {
    const RowRange range = chunk_rows(pixels, k);
    rows_centered_squares(partials + static_cast<std::size_t>(k) * channels, x + range.begin * channels, range.rows,
                          channels, mu_data);
  }
  add_chunks(squares.data(), partials, channels);
  if (reducer != nullptr) reducer->sum(squares.data(), squares.size());

  for (int c = 0; c < channels; ++c) {
    const double var = squares[c] / count;
    const double inv = 1.0 / std::sqrt(var + eps);
    mean[c] = static_cast<T>(mu[c]);
    var_out[c] = static_cast<T>(var);
    invstd[c] = static_cast<T>(inv);
    scale[c] = static_cast<T>(gamma[c] * inv);
    shift[c] = static_cast<T>(beta[c] - mu[c] * gamma[c] * inv);
  }
  affine_all_rows(y, x, pixels, channels, scale.data(), shift.data(), silu);
}

template <typename T>
void eval_forward(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                  Shape4 s, float eps, bool silu) {
  thread_local std::vector<T> scale, shift;
  scale.assign(s.c, T{0});
  shift.assign(s.c, T{0});
  for (int c = 0; c < s.c; ++c) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    scale[c] = static_cast<T>(gamma[c] * inv);
    shift[c] = static_cast<T>(beta[c] - running_mean[c] * gamma[c] * inv);
  }
  affine_all_rows(y, x, static_cast<std::size_t>(s.n) * s.plane(), s.c, scale.data(), shift.data(), silu);
}

template <typename T>
void train_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean, const T* invstd,
                    const T* gamma, const T* beta, Shape4 s, const BatchStatsReducer* reducer, bool silu) {
  const std::size_t pixels = static_cast<std::size_t>(s.n) * s.plane();
  const int channels = s.c;
  const double count = static_cast<double>(pixels) * (reducer != nullptr ? reducer->world : 1);
  // sums (2C): sum(dy), sum(dy * (x - mu)) per channel; k (6C): a, b, offset, mu, and
  // the forward's scale and shift (to recompute bn(x) under a fused SiLU).
  thread_local std::vector<double> sums, mu;
  thread_local std::vector<T> k_storage;
  sums.assign(2 * static_cast<std::size_t>(channels), 0.0);
  mu.assign(channels, 0.0);
  k_storage.assign(6 * static_cast<std::size_t>(channels), T{0});
  T* k = k_storage.data();
  for (int c = 0; c < channels; ++c) {
    mu[c] = static_cast<double>(mean[c]);
    const double scale = static_cast<double>(gamma[c]) * invstd[c];
    k[4 * channels + c] = static_cast<T>(scale);
    k[5 * channels + c] = static_cast<T>(silu ? beta[c] - mu[c] * scale : 0.0);
  }

  double* partials = chunk_scratch(2 * static_cast<std::size_t>(channels));
  const double* mu_data = mu.data();
  const T* affine = k + 4 * channels;
#pragma omp parallel for schedule(static)
  for (int chunk = 0; chunk < kChunks; ++chunk) {
    const RowRange range = chunk_rows(pixels, chunk);
    const std::size_t base = range.begin * channels;
    double* acc = partials + static_cast<std::size_t>(chunk) * 2 * channels;
    if (silu) {
      rows_silu_backward_sums(acc, dx + base, dy + base, x + base, range.rows, channels, mu_data, affine);
    } else {
      rows_backward_sums(acc, dy + base, x + base, range.rows, channels, mu_data);
    }
  }
  add_chunks(sums.data(), partials, 2 * channels);
  for (int c = 0; c < channels; ++c) {  // this rank's parameter gradients (data parallelism sums them later)
    dgamma[c] = static_cast<T>(sums[channels + c] * invstd[c]);
    dbeta[c] = static_cast<T>(sums[c]);
  }
  if (reducer != nullptr) reducer->sum(sums.data(), sums.size());  // sync_bn: the input gradient needs all ranks'

  for (int c = 0; c < channels; ++c) {
    const double inv = invstd[c];
    const double sum_dy = sums[c];
    const double sum_dy_xhat = sums[channels + c] * inv;
    // dx = gamma * inv / count * (count * dy - sum_dy - xhat * sum_dy_xhat), xhat = (x - mu) * inv
    const double scale = gamma[c] * inv / count;
    k[c] = static_cast<T>(scale * count);
    k[channels + c] = static_cast<T>(-scale * sum_dy_xhat * inv);
    k[2 * channels + c] = static_cast<T>(-scale * sum_dy);
    k[3 * channels + c] = static_cast<T>(mu[c]);
  }
#pragma omp parallel for schedule(static)
  for (int chunk = 0; chunk < kChunks; ++chunk) {
    const RowRange range = chunk_rows(pixels, chunk);
    const std::size_t base = range.begin * channels;
    // Under a fused SiLU the first pass left the gradient of bn(x) in dx: updated in place.
    rows_input_grad(dx + base, silu ? dx + base : dy + base, x + base, range.rows, channels, k);
  }
}

}  // namespace

template <typename T>
void batchnorm_train_forward_nhwc_cpu(T* y, T* mean, T* var, T* invstd, const T* x, const T* gamma, const T* beta,
                                      Shape4 s, float eps, const BatchStatsReducer* reducer) {
  train_forward(y, mean, var, invstd, x, gamma, beta, s, eps, reducer, false);
}

template <typename T>
void batchnorm_eval_forward_nhwc_cpu(T* y, const T* x, const T* gamma, const T* beta, const T* running_mean,
                                     const T* running_var, Shape4 s, float eps) {
  eval_forward(y, x, gamma, beta, running_mean, running_var, s, eps, false);
}

template <typename T>
void batchnorm_train_backward_nhwc_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* mean,
                                       const T* invstd, const T* gamma, Shape4 s, const BatchStatsReducer* reducer) {
  train_backward(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, static_cast<const T*>(nullptr), s, reducer, false);
}

template <typename T>
void batchnorm_silu_train_forward_nhwc_cpu(T* z, T* mean, T* var, T* invstd, const T* x, const T* gamma,
                                           const T* beta, Shape4 s, float eps, const BatchStatsReducer* reducer) {
  train_forward(z, mean, var, invstd, x, gamma, beta, s, eps, reducer, true);
}

template <typename T>
void batchnorm_silu_eval_forward_nhwc_cpu(T* z, const T* x, const T* gamma, const T* beta, const T* running_mean,
                                          const T* running_var, Shape4 s, float eps) {
  eval_forward(z, x, gamma, beta, running_mean, running_var, s, eps, true);
}

template <typename T>
void batchnorm_silu_train_backward_nhwc_cpu(T* dx, T* dgamma, T* dbeta, const T* dz, const T* x, const T* mean,
                                            const T* invstd, const T* gamma, const T* beta, Shape4 s,
                                            const BatchStatsReducer* reducer) {
  train_backward(dx, dgamma, dbeta, dz, x, mean, invstd, gamma, beta, s, reducer, true);
}

template void batchnorm_train_forward_nhwc_cpu<float>(float*, float*, float*, float*, const float*, const float*,
                                                      const float*, Shape4, float, const BatchStatsReducer*);
template void batchnorm_train_forward_nhwc_cpu<double>(double*, double*, double*, double*, const double*,
                                                       const double*, const double*, Shape4, float,
                                                       const BatchStatsReducer*);
template void batchnorm_eval_forward_nhwc_cpu<float>(float*, const float*, const float*, const float*, const float*,
                                                     const float*, Shape4, float);
template void batchnorm_eval_forward_nhwc_cpu<double>(double*, const double*, const double*, const double*,
                                                      const double*, const double*, Shape4, float);
template void batchnorm_train_backward_nhwc_cpu<float>(float*, float*, float*, const float*, const float*,
                                                       const float*, const float*, const float*, Shape4,
                                                       const BatchStatsReducer*);
template void batchnorm_train_backward_nhwc_cpu<double>(double*, double*, double*, const double*, const double*,
                                                        const double*, const double*, const double*, Shape4,
                                                        const BatchStatsReducer*);

template void batchnorm_silu_train_forward_nhwc_cpu<float>(float*, float*, float*, float*, const float*,
                                                           const float*, const float*, Shape4, float,
                                                           const BatchStatsReducer*);
template void batchnorm_silu_train_forward_nhwc_cpu<double>(double*, double*, double*, double*, const double*,
                                                            const double*, const double*, Shape4, float,
                                                            const BatchStatsReducer*);
template void batchnorm_silu_eval_forward_nhwc_cpu<float>(float*, const float*, const float*, const float*,
                                                          const float*, const float*, Shape4, float);
template void batchnorm_silu_eval_forward_nhwc_cpu<double>(double*, const double*, const double*, const double*,
                                                           const double*, const double*, Shape4, float);
template void batchnorm_silu_train_backward_nhwc_cpu<float>(float*, float*, float*, const float*, const float*,
                                                            const float*, const float*, const float*, const float*,
                                                            Shape4, const BatchStatsReducer*);
template void batchnorm_silu_train_backward_nhwc_cpu<double>(double*, double*, double*, const double*, const double*,
                                                             const double*, const double*, const double*,
                                                             const double*, Shape4, const BatchStatsReducer*);

}  // namespace shrike::kernels
