// kernels/conv.h
//
// 2-D convolution (groups, stride, padding; optional bias), forward and both
// backward passes, on the CPU through oneDNN. A ConvCpu is a plan for one geometry:
// the oneDNN primitives are created once (at graph planning) and reused every step,
// so nothing is allocated inside a step. Weights are PyTorch's OIHW; activations are
// NCHW or NHWC (kernels/layout.h), fixed per plan. NHWC is what oneDNN computes on
// natively, so those plans reorder only the (small) weights.
//
// conv2d_reference is a plain double-precision implementation: it is what the
// finite-difference gradient tests differentiate (oneDNN is float-only) and what the
// oneDNN path is compared with.
#pragma once

#include <memory>
#include <string>

#include "kernels/layout.h"
#include "kernels/tensor.h"

namespace shrike::kernels {

struct ConvGeometry {
  Shape4 input;          // (N, C_in, H, W)
  int out_channels = 0;  // C_out
  int kernel = 1, stride = 1, padding = 0, groups = 1;
  bool bias = false;
  Shape4 output() const;
  // Elements of the weight tensor (C_out, C_in / groups, k, k).
  std::size_t weight_numel() const;
  // Multiply-adds of one forward pass.
  double macs() const;
  std::string str() const;
};

class ConvCpu {
 public:
  explicit ConvCpu(const ConvGeometry& geometry, Layout layout = Layout::kNCHW);
  ~ConvCpu();
  ConvCpu(ConvCpu&&) noexcept;
  ConvCpu& operator=(ConvCpu&&) noexcept;

  const ConvGeometry& geometry() const;
  Layout layout() const;
  // y (N, C_out, Ho, Wo) = conv(x (N, C_in, H, W), w (C_out, C_in/g, k, k)) + b (C_out)
  void forward(float* y, const float* x, const float* w, const float* b);
  // dx (N, C_in, H, W) from dy and w; written, not accumulated.
  void backward_data(float* dx, const float* dy, const float* w);
  // dw (C_out, C_in/g, k, k) and db (C_out, when the conv has a bias) from dy and x;
  // written, not accumulated.
  void backward_weights(float* dw, float* db, const float* dy, const float* x);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Double-precision reference of the same three passes (slow; tests only).
void conv2d_reference_forward(double* y, const double* x, const double* w, const double* b, const ConvGeometry& g);
void conv2d_reference_backward(double* dx, double* dw, double* db, const double* dy, const double* x,
                               const double* w, const ConvGeometry& g);

}  // namespace shrike::kernels
