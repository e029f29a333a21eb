// kernels/vector_math.h
//
// What the hot elementwise loops need to vectorise:
//  - fast_exp: exp for float written without library calls, so that loops calling it
//    vectorise (glibc's expf only vectorises under -ffast-math). Cephes' expf scheme:
//    2^n * p(r) with r = x - n ln 2 in [-ln2/2, ln2/2] and a degree-6 polynomial;
//    relative error below 2e-7 over [-87, 88] (the test checks it against std::exp).
//  - SHRIKE_VECTOR_CLONES: compile a function for AVX-512, AVX2 and baseline x86-64
//    and pick one at load time (GCC function multi-versioning), since the portable
//    build targets baseline x86-64. Put it on the serial inner function that an
//    OpenMP loop calls per chunk (OpenMP outlines its body into a function of its own).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SHRIKE_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SHRIKE_VECTOR_CLONES
#endif

namespace shrike::kernels {

// Branch-free (min/max and the 1.5 * 2^23 rounding trick) so that loops vectorise.
inline float fast_exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting rounds to nearest
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  return e * std::bit_cast<float>(bits);
}

// Elements per chunk of parallel elementwise loops: large enough to amortise the
// OpenMP scheduling, small enough to balance two cores.
inline constexpr std::size_t kElementwiseChunk = 1 << 14;

}  // namespace shrike::kernels
