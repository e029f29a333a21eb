// kernels/pool_cpu.cpp: max pooling with argmax, OpenMP over (N, C) planes (NCHW) or
// over output rows and images (NHWC).
#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/pool.h"

namespace shrike::kernels {

Shape4 PoolGeometry::output() const {
  return {input.n, input.c, (input.h + 2 * padding - kernel) / stride + 1,
          (input.w + 2 * padding - kernel) / stride + 1};
}

template <typename T>
void maxpool_forward_cpu(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g) {
  const Shape4 in = g.input, out = g.output();
  const int planes = in.n * in.c;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; ++p) {
    const T* src = x + static_cast<std::size_t>(p) * in.plane();
    T* dst = y + static_cast<std::size_t>(p) * out.plane();
    std::int32_t* arg = argmax + static_cast<std::size_t>(p) * out.plane();
    for (int oy = 0; oy < out.h; ++oy) {
      const int y0 = oy * g.stride - g.padding;
      for (int ox = 0; ox < out.w; ++ox) {
        const int x0 = ox * g.stride - g.padding;
        T best = -std::numeric_limits<T>::infinity();
        std::int32_t best_index = -1;
        for (int ky = 0; ky < g.kernel; ++ky) {
          const int iy = y0 + ky;
          if (iy < 0 || iy >= in.h) continue;
          for (int kx = 0; kx < g.kernel; ++kx) {
            const int ix = x0 + kx;
            if (ix < 0 || ix >= in.w) continue;
            const T v = src[iy * in.w + ix];
            if (v > best || best_index < 0) {
              best = v;
              best_index = iy * in.w + ix;
            }
          }
        }
        dst[oy * out.w + ox] = best;
        arg[oy * out.w + ox] = best_index;
      }
    }
  }
}

template <typename T>
void maxpool_backward_cpu(T* dx, const T* dy, const std::int32_t* argmax, const PoolGeometry& g) {
  const Shape4 in = g.input, out = g.output();
  const int planes = in.n * in.c;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; ++p) {
    T* dst = dx + static_cast<std::size_t>(p) * in.plane();
    std::memset(dst, 0, in.plane() * sizeof(T));
    const T* grad = dy + static_cast<std::size_t>(p) * out.plane();
    const std::int32_t* arg = argmax + static_cast<std::size_t>(p) * out.plane();
    for (std::size_t i = 0; i < out.plane(); ++i) dst[arg[i]] += grad[i];
  }
}

template <typename T>
void maxpool_forward_nhwc_cpu(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g) {
  const Shape4 in = g.input, out = g.output();
  const int channels = in.c, rows = in.n * out.h;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r) {
    const int n = r / out.h, oy = r % out.h;
    const T* src = x + static_cast<std::size_t>(n) * in.plane() * channels;
    const int y0 = oy * g.stride - g.padding;
    for (int ox = 0; ox < out.w; ++ox) {
      const std::size_t o = ((static_cast<std::size_t>(n) * out.h + oy) * out.w + ox) * channels;
      T* best = y + o;
      std::int32_t* best_index = argmax + o;
      std::fill(best, best + channels, -std::numeric_limits<T>::infinity());
      std::fill(best_index, best_index + channels, -1);
      const int x0 = ox * g.stride - g.padding;
      for (int ky = 0; ky < g.kernel; ++ky) {  // the window in the NCHW kernel's scan order
        const int iy = y0 + ky;
        if (iy < 0 || iy >= in.h) continue;
        for (int kx = 0; kx < g.kernel; ++kx) {
          const int ix = x0 + kx;
          if (ix < 0 || ix >= in.w) continue;
          const std::int32_t index = iy * in.w + ix;
          const T* v = src + static_cast<std::size_t>(index) * channels;
          for (int c = 0; c < channels; ++c) {
            if (v[c] > best[c] || best_index[c] < 0) {
              best[c] = v[c];
              best_index[c] = index;
            }
          }
        }
      }
    }
  }
}

template <typename T>
void maxpool_backward_nhwc_cpu(T* dx, const T* dy, const std::int32_t* argmax, const PoolGeometry& g) {
  const Shape4 in = g.input, out = g.output();
  const int channels = in.c;
  const std::size_t in_image = in.plane() * channels, out_image = out.plane() * channels;
#pragma omp parallel for schedule(static)
  for (int n = 0; n < in.n; ++n) {  // per image: outputs scatter in the NCHW kernel's order
    T* dst = dx + static_cast<std::size_t>(n) * in_image;
    std::memset(dst, 0, in_image * sizeof(T));
    const T* grad = dy + static_cast<std::size_t>(n) * out_image;
    const std::int32_t* arg = argmax + static_cast<std::size_t>(n) * out_image;
    for (std::size_t i = 0; i < out.plane(); ++i) {
      for (int c = 0; c < channels; ++c) {
        dst[static_cast<std::size_t>(arg[i * channels + c]) * channels + c] += grad[i * channels + c];
      }
    }
  }
}

template void maxpool_forward_nhwc_cpu<float>(float*, std::int32_t*, const float*, const PoolGeometry&);
template void maxpool_forward_nhwc_cpu<double>(double*, std::int32_t*, const double*, const PoolGeometry&);
template void maxpool_backward_nhwc_cpu<float>(float*, const float*, const std::int32_t*, const PoolGeometry&);
template void maxpool_backward_nhwc_cpu<double>(double*, const double*, const std::int32_t*, const PoolGeometry&);
template void maxpool_forward_cpu<float>(float*, std::int32_t*, const float*, const PoolGeometry&);
template void maxpool_forward_cpu<double>(double*, std::int32_t*, const double*, const PoolGeometry&);
template void maxpool_backward_cpu<float>(float*, const float*, const std::int32_t*, const PoolGeometry&);
template void maxpool_backward_cpu<double>(double*, const double*, const std::int32_t*, const PoolGeometry&);

}  // namespace shrike::kernels
