// kernels/batchnorm_cpu.cpp: batch norm on the CPU, OpenMP over channels.
#include <cmath>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/vector_math.h"

namespace shrike::kernels {

namespace {

// Vectorised plane reductions in double lanes (omp simd lets the compiler reassociate;
// float lanes were measurably less accurate over long training runs).
SHRIKE_VECTOR_CLONES double plane_sum(const float* p, std::size_t n) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::size_t i = 0; i < n; ++i) sum += p[i];
  return sum;
}
double plane_sum(const double* p, std::size_t n) {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += p[i];
  return sum;
}
SHRIKE_VECTOR_CLONES double plane_centered_squares(const float* p, std::size_t n, double mu) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(p[i]) - mu;
    sum += d * d;
  }
  return sum;
}
double plane_centered_squares(const double* p, std::size_t n, double mu) {
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += (p[i] - mu) * (p[i] - mu);
  return sum;
}
// sum(dy) and sum(dy * (x - mu)) of one plane.
SHRIKE_VECTOR_CLONES void plane_backward_sums(const float* dy, const float* x, std::size_t n, double mu, double* sum_dy,
                                              double* sum_dy_centered) {
  double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
  for (std::size_t i = 0; i < n; ++i) {
    a += dy[i];
    b += static_cast<double>(dy[i]) * (static_cast<double>(x[i]) - mu);
  }
  *sum_dy += a;
  *sum_dy_centered += b;
}
void plane_backward_sums(const double* dy, const double* x, std::size_t n, double mu, double* sum_dy,
                         double* sum_dy_centered) {
  for (std::size_t i = 0; i < n; ++i) {
    *sum_dy += dy[i];
    *sum_dy_centered += dy[i] * (x[i] - mu);
  }
}
SHRIKE_VECTOR_CLONES void plane_affine(float* y, const float* x, std::size_t n, float scale, float shift) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * scale + shift;
}
void plane_affine(double* y, const double* x, std::size_t n, double scale, double shift) {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * scale + shift;
}
// dx = a * dy + b * (x - mu) + c: the BN input gradient of one plane, with
// a = k * count, b = -k * c2, c = -k * sum_dy.
SHRIKE_VECTOR_CLONES void plane_input_grad(float* dx, const float* dy, const float* x, std::size_t n, float a, float b,
                                           float c, float mu) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = a * dy[i] + b * (x[i] - mu) + c;
}
void plane_input_grad(double* dx, const double* dy, const double* x, std::size_t n, double a, double b, double c,
                      double mu) {
  for (std::size_t i = 0; i < n; ++i) dx[i] = a * dy[i] + b * (x[i] - mu) + c;
}

// Sum of channel c over (N, H, W).
template <typename T>
double channel_sum(const T* x, Shape4 s, int c) {
  double sum = 0;
  const std::size_t plane = s.plane();
  for (int n = 0; n < s.n; ++n) sum += plane_sum(x + (static_cast<std::size_t>(n) * s.c + c) * plane, plane);
  return sum;
}

}  // namespace

template <typename T>
void batchnorm_train_forward_cpu(T* y, T* mean, T* var_out, T* invstd, const T* x,
                                 const T* gamma, const T* beta, Shape4 s, float eps, const BatchStatsReducer* reducer) {
  const std::size_t plane = s.plane();
  const double count = static_cast<double>(s.n) * plane * (reducer != nullptr ? reducer->world : 1);
  // The calling thread's scratch, reached through pointers inside the parallel loops
  // (each OpenMP thread would see its own, empty, thread_local vector).
  thread_local std::vector<double> sum_storage, square_storage;
  sum_storage.assign(static_cast<std::size_t>(s.c), 0.0);
  square_storage.assign(static_cast<std::size_t>(s.c), 0.0);
  double* sums = sum_storage.data();
  double* squares = square_storage.data();
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.c; ++c) sums[c] = channel_sum(x, s, c);
  if (reducer != nullptr) reducer->sum(sums, sum_storage.size());  // sync_bn: statistics of every rank
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.c; ++c) {
    // Second pass for the variance: E[(x - mu)^2] is exact where E[x^2] - mu^2 cancels.
    const double mu = sums[c] / count;
    double var_sum = 0;
    for (int n = 0; n < s.n; ++n) {
      var_sum += plane_centered_squares(x + (static_cast<std::size_t>(n) * s.c + c) * plane, plane, mu);
    }
    squares[c] = var_sum;
  }
  if (reducer != nullptr) reducer->sum(squares, square_storage.size());
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.c; ++c) {
    const double mu = sums[c] / count;
    const double var = squares[c] / count;
    const double inv = 1.0 / std::sqrt(var + eps);
    mean[c] = static_cast<T>(mu);
    var_out[c] = static_cast<T>(var);
    invstd[c] = static_cast<T>(inv);
    const T scale = static_cast<T>(gamma[c] * inv);
    const T shift = static_cast<T>(beta[c] - mu * gamma[c] * inv);
    for (int n = 0; n < s.n; ++n) {
      const std::size_t base = (static_cast<std::size_t>(n) * s.c + c) * plane;
      plane_affine(y + base, x + base, plane, scale, shift);
    }
  }
}

template <typename T>
void batchnorm_update_running_cpu(T* running_mean, T* running_var, const T* mean, const T* batch_var,
                                  Shape4 s, float momentum) {
  const double count = static_cast<double>(s.n) * s.plane();
  const double unbias = count > 1 ? count / (count - 1) : 1.0;
  for (int c = 0; c < s.c; ++c) {
    const double var = batch_var[c];
    running_mean[c] = static_cast<T>((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
    running_var[c] = static_cast<T>((1.0 - momentum) * running_var[c] + momentum * var * unbias);
  }
}

template <typename T>
void batchnorm_eval_forward_cpu(T* y, const T* x, const T* gamma, const T* beta,
                                const T* running_mean, const T* running_var, Shape4 s, float eps) {
  const std::size_t plane = s.plane();
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.c; ++c) {
    const double inv = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    const T scale = static_cast<T>(gamma[c] * inv);
    const T shift = static_cast<T>(beta[c] - running_mean[c] * gamma[c] * inv);
    for (int n = 0; n < s.n; ++n) {
      const std::size_t base = (static_cast<std::size_t>(n) * s.c + c) * plane;
      plane_affine(y + base, x + base, plane, scale, shift);
    }
  }
}

template <typename T>
void batchnorm_train_backward_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                  const T* mean, const T* invstd, const T* gamma, Shape4 s,
                                  const BatchStatsReducer* reducer) {
  const std::size_t plane = s.plane();
  const double count = static_cast<double>(s.n) * plane * (reducer != nullptr ? reducer->world : 1);
  // (2C): sum(dy), sum(dy * (x - mu)) per channel; the calling thread's scratch,
  // reached through a pointer inside the parallel loops.
  thread_local std::vector<double> sum_storage;
  sum_storage.assign(2 * static_cast<std::size_t>(s.c), 0.0);
  double* sums = sum_storage.data();
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.c; ++c) {
    double sum_dy = 0, sum_dy_centered = 0;
    for (int n = 0; n < s.n; ++n) {
      const std::size_t base = (static_cast<std::size_t>(n) * s.c + c) * plane;
      plane_backward_sums(dy + base, x + base, plane, static_cast<double>(mean[c]), &sum_dy, &sum_dy_centered);
    }
    sums[2 * c] = sum_dy;
    sums[2 * c + 1] = sum_dy_centered;
    // This rank's parameter gradients (data parallelism sums them over ranks later).
    dgamma[c] = static_cast<T>(sum_dy_centered * invstd[c]);
    dbeta[c] = static_cast<T>(sum_dy);
  }
  if (reducer != nullptr) reducer->sum(sums, sum_storage.size());  // sync_bn: the input gradient needs all ranks'
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.c; ++c) {
    const double mu = mean[c], inv = invstd[c];
    const double sum_dy = sums[2 * c];
    const double sum_dy_xhat = sums[2 * c + 1] * inv;
    // dx = gamma * inv / count * (count * dy - sum_dy - xhat * sum_dy_xhat), xhat = (x - mu) * inv
    const double k = gamma[c] * inv / count;
    const T a = static_cast<T>(k * count), b = static_cast<T>(-k * sum_dy_xhat * inv), offset = static_cast<T>(-k * sum_dy);
    for (int n = 0; n < s.n; ++n) {
      const std::size_t base = (static_cast<std::size_t>(n) * s.c + c) * plane;
      plane_input_grad(dx + base, dy + base, x + base, plane, a, b, offset, static_cast<T>(mu));
    }
  }
}

template void batchnorm_train_forward_cpu<float>(float*, float*, float*, float*, const float*, const float*,
                                                 const float*, Shape4, float, const BatchStatsReducer*);
template void batchnorm_train_forward_cpu<double>(double*, double*, double*, double*, const double*, const double*,
                                                  const double*, Shape4, float, const BatchStatsReducer*);
template void batchnorm_update_running_cpu<float>(float*, float*, const float*, const float*, Shape4, float);
template void batchnorm_update_running_cpu<double>(double*, double*, const double*, const double*, Shape4, float);
template void batchnorm_eval_forward_cpu<float>(float*, const float*, const float*, const float*, const float*,
                                                const float*, Shape4, float);
template void batchnorm_eval_forward_cpu<double>(double*, const double*, const double*, const double*, const double*,
                                                 const double*, Shape4, float);
template void batchnorm_train_backward_cpu<float>(float*, float*, float*, const float*, const float*, const float*,
                                                  const float*, const float*, Shape4, const BatchStatsReducer*);
template void batchnorm_train_backward_cpu<double>(double*, double*, double*, const double*, const double*,
                                                   const double*, const double*, const double*, Shape4,
                                                   const BatchStatsReducer*);

}  // namespace shrike::kernels
