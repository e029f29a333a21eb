// kernels/elementwise_cpu.cpp: pointwise ops and channel-range copies (OpenMP).
#include <cstring>

#include "kernels/elementwise.h"

namespace shrike::kernels {

void add_cpu(float* out, const float* a, const float* b, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void accumulate_cpu(float* acc, const float* x, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) acc[i] += x[i];
}

void scale_cpu(float* out, const float* x, float scale, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) out[i] = x[i] * scale;
}

void copy_into_channels_cpu(float* dst, int dst_channels, int offset, const float* src, Shape4 s) {
  const std::size_t block = static_cast<std::size_t>(s.c) * s.plane();
#pragma omp parallel for schedule(static)
  for (int n = 0; n < s.n; ++n) {
    std::memcpy(dst + (static_cast<std::size_t>(n) * dst_channels + offset) * s.plane(),
                src + static_cast<std::size_t>(n) * block, block * sizeof(float));
  }
}

void copy_from_channels_cpu(float* dst, Shape4 d, const float* src, int src_channels, int offset) {
  const std::size_t block = static_cast<std::size_t>(d.c) * d.plane();
#pragma omp parallel for schedule(static)
  for (int n = 0; n < d.n; ++n) {
    std::memcpy(dst + static_cast<std::size_t>(n) * block,
                src + (static_cast<std::size_t>(n) * src_channels + offset) * d.plane(), block * sizeof(float));
  }
}

void accumulate_from_channels_cpu(float* dst, Shape4 d, const float* src, int src_channels, int offset) {
  const std::size_t block = static_cast<std::size_t>(d.c) * d.plane();
#pragma omp parallel for schedule(static)
  for (int n = 0; n < d.n; ++n) {
    float* out = dst + static_cast<std::size_t>(n) * block;
    const float* in = src + (static_cast<std::size_t>(n) * src_channels + offset) * d.plane();
    for (std::size_t i = 0; i < block; ++i) out[i] += in[i];
  }
}

void copy_into_channels_nhwc_cpu(float* dst, int dst_channels, int offset, const float* src, Shape4 s) {
  const std::ptrdiff_t pixels = static_cast<std::ptrdiff_t>(s.n) * static_cast<std::ptrdiff_t>(s.plane());
  const std::size_t run = static_cast<std::size_t>(s.c) * sizeof(float);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t p = 0; p < pixels; ++p) {
    std::memcpy(dst + p * dst_channels + offset, src + p * s.c, run);
  }
}

void copy_from_channels_nhwc_cpu(float* dst, Shape4 d, const float* src, int src_channels, int offset) {
  const std::ptrdiff_t pixels = static_cast<std::ptrdiff_t>(d.n) * static_cast<std::ptrdiff_t>(d.plane());
  const std::size_t run = static_cast<std::size_t>(d.c) * sizeof(float);
#pragma omp parallel for schedule(static)
  for (std::ptrdiff_t p = 0; p < pixels; ++p) {
    std::memcpy(dst + p * d.c, src + p * src_channels + offset, run);
  }
}

}  // namespace shrike::kernels
