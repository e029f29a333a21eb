// kernels/layout_cpu.cpp: NCHW <-> NHWC transposes, OpenMP over (image, row).
// Each (n, y) row is a small C x W matrix transposed in tiles so that both sides are
// read and written in cache lines.
#include <algorithm>
#include <cstdint>

#include "kernels/layout.h"

namespace shrike::kernels {

namespace {

constexpr int kTile = 16;

// dst[x * dst_stride + c] = src[c * src_stride + x] for c < rows, x < cols.
template <typename T>
void transpose_tile_rows(T* dst, std::size_t dst_stride, const T* src, std::size_t src_stride, int rows, int cols) {
  for (int c0 = 0; c0 < rows; c0 += kTile) {
    const int c1 = std::min(rows, c0 + kTile);
    for (int x0 = 0; x0 < cols; x0 += kTile) {
      const int x1 = std::min(cols, x0 + kTile);
      for (int c = c0; c < c1; ++c) {
        for (int x = x0; x < x1; ++x) dst[x * dst_stride + c] = src[c * src_stride + x];
      }
    }
  }
}

}  // namespace

template <typename T>
void nchw_to_nhwc_cpu(T* dst, const T* src, Shape4 s) {
  const int rows = s.n * s.h;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r) {
    const int n = r / s.h, y = r % s.h;
    const T* in = src + static_cast<std::size_t>(n) * s.c * s.plane() + static_cast<std::size_t>(y) * s.w;
    T* out = dst + (static_cast<std::size_t>(n) * s.plane() + static_cast<std::size_t>(y) * s.w) * s.c;
    transpose_tile_rows(out, static_cast<std::size_t>(s.c), in, s.plane(), s.c, s.w);
  }
}

template <typename T>
void nhwc_to_nchw_cpu(T* dst, const T* src, Shape4 s) {
  const int rows = s.n * s.h;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r) {
    const int n = r / s.h, y = r % s.h;
    const T* in = src + (static_cast<std::size_t>(n) * s.plane() + static_cast<std::size_t>(y) * s.w) * s.c;
    T* out = dst + static_cast<std::size_t>(n) * s.c * s.plane() + static_cast<std::size_t>(y) * s.w;
    transpose_tile_rows(out, s.plane(), in, static_cast<std::size_t>(s.c), s.w, s.c);
  }
}

template void nchw_to_nhwc_cpu<float>(float*, const float*, Shape4);
template void nchw_to_nhwc_cpu<double>(double*, const double*, Shape4);
template void nhwc_to_nchw_cpu<float>(float*, const float*, Shape4);
template void nhwc_to_nchw_cpu<double>(double*, const double*, Shape4);
template void nchw_to_nhwc_cpu<std::int32_t>(std::int32_t*, const std::int32_t*, Shape4);
template void nhwc_to_nchw_cpu<std::int32_t>(std::int32_t*, const std::int32_t*, Shape4);

}  // namespace shrike::kernels
