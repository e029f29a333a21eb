// kernels/conv_reference.cpp: the plain double-precision convolution that gradient
// tests differentiate and the oneDNN path is compared with. Loops, no tricks. Also the
// ConvGeometry arithmetic, which every build needs (the CUDA backend without oneDNN too).
#include <algorithm>
#include <string>

#include "kernels/conv.h"

namespace shrike::kernels {

Shape4 ConvGeometry::output() const {
  int ho = (input.h + 2 * padding - kernel) / stride + 1;
  int wo = (input.w + 2 * padding - kernel) / stride + 1;
  return {input.n, out_channels, ho, wo};
}

std::size_t ConvGeometry::weight_numel() const {
  return static_cast<std::size_t>(out_channels) * (input.c / groups) * kernel * kernel;
}

double ConvGeometry::macs() const {
  return static_cast<double>(output().numel()) * (input.c / groups) * kernel * kernel;
}

std::string ConvGeometry::str() const {
  return "input " + input.str() + ", out " + std::to_string(out_channels) + ", k" + std::to_string(kernel) + " s" +
         std::to_string(stride) + " p" + std::to_string(padding) + " g" + std::to_string(groups) +
         (bias ? " bias" : "");
}

namespace {

// Calls f(n, oc, oy, ox, ic, ky, kx, input_index, weight_index) for every
// multiply-add term of the convolution whose input position is inside the image.
template <typename F>
void for_each_term(const ConvGeometry& g, F f) {
  const Shape4 in = g.input, out = g.output();
  const int in_per_group = in.c / g.groups, out_per_group = g.out_channels / g.groups, k = g.kernel;
  for (int n = 0; n < in.n; ++n)
    for (int oc = 0; oc < out.c; ++oc) {
      const int group = oc / out_per_group;
      for (int oy = 0; oy < out.h; ++oy)
        for (int ox = 0; ox < out.w; ++ox) {
          const std::size_t out_index = ((static_cast<std::size_t>(n) * out.c + oc) * out.h + oy) * out.w + ox;
          for (int icg = 0; icg < in_per_group; ++icg) {
            const int ic = group * in_per_group + icg;
            for (int ky = 0; ky < k; ++ky) {
              const int iy = oy * g.stride - g.padding + ky;
              if (iy < 0 || iy >= in.h) continue;
              for (int kx = 0; kx < k; ++kx) {
                const int ix = ox * g.stride - g.padding + kx;
                if (ix < 0 || ix >= in.w) continue;
                const std::size_t in_index = ((static_cast<std::size_t>(n) * in.c + ic) * in.h + iy) * in.w + ix;
                const std::size_t w_index = ((static_cast<std::size_t>(oc) * in_per_group + icg) * k + ky) * k + kx;
                f(out_index, oc, in_index, w_index);
              }
            }
          }
        }
    }
}

}  // namespace

void conv2d_reference_forward(double* y, const double* x, const double* w, const double* b, const ConvGeometry& g) {
  const Shape4 out = g.output();
  for (std::size_t i = 0; i < out.numel(); ++i) y[i] = g.bias ? b[(i / out.plane()) % out.c] : 0.0;
  for_each_term(g, [&](std::size_t o, int, std::size_t in, std::size_t wi) { y[o] += x[in] * w[wi]; });
}

void conv2d_reference_backward(double* dx, double* dw, double* db, const double* dy, const double* x,
                               const double* w, const ConvGeometry& g) {
  std::fill(dx, dx + g.input.numel(), 0.0);
  std::fill(dw, dw + g.weight_numel(), 0.0);
  const Shape4 out = g.output();
  if (g.bias) {
    std::fill(db, db + out.c, 0.0);
    for (std::size_t i = 0; i < out.numel(); ++i) db[(i / out.plane()) % out.c] += dy[i];
  }
  for_each_term(g, [&](std::size_t o, int, std::size_t in, std::size_t wi) {
    dx[in] += dy[o] * w[wi];
    dw[wi] += dy[o] * x[in];
  });
}

}  // namespace shrike::kernels
