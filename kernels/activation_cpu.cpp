// kernels/activation_cpu.cpp: SiLU on the CPU. The float path runs chunks in parallel
// (OpenMP) through vectorised inner loops (fast_exp, AVX-512 / AVX2 clones); the double
// instantiation, used by the finite-difference tests, is the plain formula.
#include <algorithm>
#include <cmath>

#include "kernels/activation.h"
#include "kernels/vector_math.h"

namespace shrike::kernels {

namespace {

SHRIKE_VECTOR_CLONES void silu_forward_chunk(float* out, const float* inp, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float x = inp[i];
    out[i] = x / (1.0f + fast_exp(-x));
  }
}

SHRIKE_VECTOR_CLONES void silu_backward_chunk(float* dinp, const float* dout, const float* inp, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const float x = inp[i];
    const float s = 1.0f / (1.0f + fast_exp(-x));
    dinp[i] = dout[i] * s * (1.0f + x * (1.0f - s));
  }
}

template <typename Chunk>
void for_each_chunk(std::size_t n, Chunk chunk) {
  const std::size_t chunks = (n + kElementwiseChunk - 1) / kElementwiseChunk;
#pragma omp parallel for schedule(static)
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t begin = c * kElementwiseChunk;
    chunk(begin, std::min(kElementwiseChunk, n - begin));
  }
}

}  // namespace

template <>
void silu_forward_cpu<float>(float* out, const float* inp, std::size_t n) {
  for_each_chunk(n, [&](std::size_t begin, std::size_t count) { silu_forward_chunk(out + begin, inp + begin, count); });
}

template <>
void silu_backward_cpu<float>(float* dinp, const float* dout, const float* inp, std::size_t n) {
  for_each_chunk(n, [&](std::size_t begin, std::size_t count) {
    silu_backward_chunk(dinp + begin, dout + begin, inp + begin, count);
  });
}

template <>
void silu_forward_cpu<double>(double* out, const double* inp, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = inp[i] / (1.0 + std::exp(-inp[i]));
}

template <>
void silu_backward_cpu<double>(double* dinp, const double* dout, const double* inp, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const double s = 1.0 / (1.0 + std::exp(-inp[i]));
    dinp[i] = dout[i] * s * (1.0 + inp[i] * (1.0 - s));
  }
}

}  // namespace shrike::kernels
