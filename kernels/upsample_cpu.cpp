// kernels/upsample_cpu.cpp: nearest upsampling, OpenMP over (N, C) planes (NCHW) or
// rows (NHWC).
#include <algorithm>

#include "kernels/upsample.h"

namespace shrike::kernels {

template <typename T>
void upsample_nearest_forward_cpu(T* y, const T* x, Shape4 in, int f) {
  const int planes = in.n * in.c, wo = in.w * f;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; ++p) {
    const T* src = x + static_cast<std::size_t>(p) * in.plane();
    T* dst = y + static_cast<std::size_t>(p) * in.plane() * f * f;
    for (int oy = 0; oy < in.h * f; ++oy) {
      const T* row = src + static_cast<std::size_t>(oy / f) * in.w;
      T* out = dst + static_cast<std::size_t>(oy) * wo;
      for (int ox = 0; ox < wo; ++ox) out[ox] = row[ox / f];
    }
  }
}

template <typename T>
void upsample_nearest_backward_cpu(T* dx, const T* dy, Shape4 in, int f) {
  const int planes = in.n * in.c, wo = in.w * f;
#pragma omp parallel for schedule(static)
  for (int p = 0; p < planes; ++p) {
    const T* grad = dy + static_cast<std::size_t>(p) * in.plane() * f * f;
    T* dst = dx + static_cast<std::size_t>(p) * in.plane();
    for (int iy = 0; iy < in.h; ++iy) {
      for (int ix = 0; ix < in.w; ++ix) {
        T sum = 0;
        for (int ky = 0; ky < f; ++ky)
          for (int kx = 0; kx < f; ++kx) sum += grad[static_cast<std::size_t>(iy * f + ky) * wo + ix * f + kx];
        dst[static_cast<std::size_t>(iy) * in.w + ix] = sum;
      }
    }
  }
}

template <typename T>
void upsample_nearest_forward_nhwc_cpu(T* y, const T* x, Shape4 in, int f) {
  const int rows = in.n * in.h * f, wo = in.w * f, channels = in.c;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r) {
    const int n = r / (in.h * f), oy = r % (in.h * f);
    const T* row = x + (static_cast<std::size_t>(n) * in.h + oy / f) * in.w * channels;
    T* out = y + static_cast<std::size_t>(r) * wo * channels;
    for (int ox = 0; ox < wo; ++ox) {
      std::copy(row + static_cast<std::size_t>(ox / f) * channels, row + static_cast<std::size_t>(ox / f + 1) * channels,
                out + static_cast<std::size_t>(ox) * channels);
    }
  }
}

template <typename T>
void upsample_nearest_backward_nhwc_cpu(T* dx, const T* dy, Shape4 in, int f) {
  const int rows = in.n * in.h, wo = in.w * f, channels = in.c;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r) {
    const int n = r / in.h, iy = r % in.h;
    const T* grad = dy + (static_cast<std::size_t>(n) * in.h * f + static_cast<std::size_t>(iy) * f) * wo * channels;
    T* dst = dx + static_cast<std::size_t>(r) * in.w * channels;
    for (int ix = 0; ix < in.w; ++ix) {
      T* out = dst + static_cast<std::size_t>(ix) * channels;
      for (int c = 0; c < channels; ++c) {
        T sum = 0;
        for (int ky = 0; ky < f; ++ky)
          for (int kx = 0; kx < f; ++kx)
            sum += grad[(static_cast<std::size_t>(ky) * wo + static_cast<std::size_t>(ix) * f + kx) * channels + c];
        out[c] = sum;
      }
    }
  }
}

template void upsample_nearest_forward_nhwc_cpu<float>(float*, const float*, Shape4, int);
template void upsample_nearest_forward_nhwc_cpu<double>(double*, const double*, Shape4, int);
template void upsample_nearest_backward_nhwc_cpu<float>(float*, const float*, Shape4, int);
template void upsample_nearest_backward_nhwc_cpu<double>(double*, const double*, Shape4, int);
template void upsample_nearest_forward_cpu<float>(float*, const float*, Shape4, int);
template void upsample_nearest_forward_cpu<double>(double*, const double*, Shape4, int);
template void upsample_nearest_backward_cpu<float>(float*, const float*, Shape4, int);
template void upsample_nearest_backward_cpu<double>(double*, const double*, Shape4, int);

}  // namespace shrike::kernels
