// kernels/batchnorm_cpu.cpp: batch norm on the CPU, OpenMP over channels.
#include <cmath>

#include "kernels/batchnorm.h"

namespace shrike::kernels {

namespace {

// Sum of channel c over (N, H, W), in double.
template <typename T>
double channel_sum(const T* x, Shape4 s, int c) {
  double sum = 0;
  const std::size_t plane = s.plane();
  for (int n = 0; n < s.n; ++n) {
    const T* p = x + (static_cast<std::size_t>(n) * s.c + c) * plane;
    for (std::size_t i = 0; i < plane; ++i) sum += p[i];
  }
  return sum;
}

}  // namespace

template <typename T>
void batchnorm_train_forward_cpu(T* y, T* mean, T* var_out, T* invstd, const T* x,
                                 const T* gamma, const T* beta, Shape4 s, float eps) {
  const std::size_t plane = s.plane();
  const double count = static_cast<double>(s.n) * plane;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.c; ++c) {
    const double mu = channel_sum(x, s, c) / count;
    // Second pass for the variance: E[(x - mu)^2] is exact where E[x^2] - mu^2 cancels.
    double var_sum = 0;
    for (int n = 0; n < s.n; ++n) {
      const T* p = x + (static_cast<std::size_t>(n) * s.c + c) * plane;
      for (std::size_t i = 0; i < plane; ++i) var_sum += (p[i] - mu) * (p[i] - mu);
    }
    const double var = var_sum / count;
    const double inv = 1.0 / std::sqrt(var + eps);
    mean[c] = static_cast<T>(mu);
    var_out[c] = static_cast<T>(var);
    invstd[c] = static_cast<T>(inv);
    const T scale = static_cast<T>(gamma[c] * inv);
    const T shift = static_cast<T>(beta[c] - mu * gamma[c] * inv);
    for (int n = 0; n < s.n; ++n) {
      const std::size_t base = (static_cast<std::size_t>(n) * s.c + c) * plane;
      for (std::size_t i = 0; i < plane; ++i) y[base + i] = x[base + i] * scale + shift;
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
      for (std::size_t i = 0; i < plane; ++i) y[base + i] = x[base + i] * scale + shift;
    }
  }
}

template <typename T>
void batchnorm_train_backward_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                  const T* mean, const T* invstd, const T* gamma, Shape4 s) {
  const std::size_t plane = s.plane();
  const double count = static_cast<double>(s.n) * plane;
#pragma omp parallel for schedule(static)
  for (int c = 0; c < s.c; ++c) {
    const double mu = mean[c], inv = invstd[c];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int n = 0; n < s.n; ++n) {
      const std::size_t base = (static_cast<std::size_t>(n) * s.c + c) * plane;
      for (std::size_t i = 0; i < plane; ++i) {
        sum_dy += dy[base + i];
        sum_dy_xhat += dy[base + i] * ((x[base + i] - mu) * inv);
      }
    }
    dgamma[c] = static_cast<T>(sum_dy_xhat);
    dbeta[c] = static_cast<T>(sum_dy);
    // dx = gamma * inv / count * (count * dy - sum_dy - xhat * sum_dy_xhat)
    const double k = gamma[c] * inv / count;
    for (int n = 0; n < s.n; ++n) {
      const std::size_t base = (static_cast<std::size_t>(n) * s.c + c) * plane;
      for (std::size_t i = 0; i < plane; ++i) {
        const double xhat = (x[base + i] - mu) * inv;
        dx[base + i] = static_cast<T>(k * (count * dy[base + i] - sum_dy - xhat * sum_dy_xhat));
      }
    }
  }
}

template void batchnorm_train_forward_cpu<float>(float*, float*, float*, float*, const float*, const float*,
                                                 const float*, Shape4, float);
template void batchnorm_train_forward_cpu<double>(double*, double*, double*, double*, const double*, const double*,
                                                  const double*, Shape4, float);
template void batchnorm_update_running_cpu<float>(float*, float*, const float*, const float*, Shape4, float);
template void batchnorm_update_running_cpu<double>(double*, double*, const double*, const double*, Shape4, float);
template void batchnorm_eval_forward_cpu<float>(float*, const float*, const float*, const float*, const float*,
                                                const float*, Shape4, float);
template void batchnorm_eval_forward_cpu<double>(double*, const double*, const double*, const double*, const double*,
                                                 const double*, Shape4, float);
template void batchnorm_train_backward_cpu<float>(float*, float*, float*, const float*, const float*, const float*,
                                                  const float*, const float*, Shape4);
template void batchnorm_train_backward_cpu<double>(double*, double*, double*, const double*, const double*,
                                                   const double*, const double*, const double*, Shape4);

}  // namespace shrike::kernels
