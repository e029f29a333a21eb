// kernels/activation_cpu.cpp: SiLU on the CPU (OpenMP, vectorisable loops).
#include <cmath>

#include "kernels/activation.h"

namespace shrike::kernels {

template <typename T>
void silu_forward_cpu(T* out, const T* inp, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    const T x = inp[i];
    out[i] = x / (T(1) + std::exp(-x));
  }
}

template <typename T>
void silu_backward_cpu(T* dinp, const T* dout, const T* inp, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    const T x = inp[i];
    const T s = T(1) / (T(1) + std::exp(-x));
    dinp[i] = dout[i] * s * (T(1) + x * (T(1) - s));
  }
}

template void silu_forward_cpu<float>(float*, const float*, std::size_t);
template void silu_forward_cpu<double>(double*, const double*, std::size_t);
template void silu_backward_cpu<float>(float*, const float*, const float*, std::size_t);
template void silu_backward_cpu<double>(double*, const double*, const double*, std::size_t);

}  // namespace shrike::kernels
