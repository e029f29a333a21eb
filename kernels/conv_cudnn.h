// kernels/conv_cudnn.h
//
// 2-D convolution on the GPU through cuDNN: forward, backward data and backward filter
// (groups and depthwise included), the twin of ConvCpu (conv.h). A ConvCudnn is a plan
// for one geometry and dtype: tensor, filter and convolution descriptors made once; the
// algorithm of each pass chosen by measurement (cudnnFind*AlgorithmEx) the first time a
// (geometry, dtype) is seen in the process and kept in a process-wide plan cache, so
// graphs of the same shapes (training, EMA validation) measure once. Workspace comes
// from the CudaContext (one buffer shared by every convolution).
//
// dtype kF32: fp32 data, fp32 compute, TF32 tensor ops off (exact twin of the CPU).
// dtype kBF16: bf16 x, w, y, dx, dw with fp32 accumulation (mixed precision).
// The bias (fp32, C_out) is added by a kernel of ours after the convolution, and its
// gradient is a channel sum of dy (elementwise_cuda.h).
#pragma once

#include <memory>

#include "kernels/conv.h"
#include "kernels/cuda_context.h"
#include "kernels/dtype.h"

namespace shrike::kernels {

class ConvCudnn {
 public:
  ConvCudnn(CudaContext& context, const ConvGeometry& geometry, DType dtype);
  ~ConvCudnn();
  ConvCudnn(ConvCudnn&&) noexcept;
  ConvCudnn& operator=(ConvCudnn&&) noexcept;

  const ConvGeometry& geometry() const;
  DType dtype() const;

  // Pointers are device memory of the plan's dtype; bias fp32 (C_out) or null.
  // y (N, C_out, Ho, Wo) = conv(x (N, C_in, H, W), w (C_out, C_in/g, k, k)) + bias.
  void forward(void* y, const void* x, const void* w, const float* bias);
  // dx from dy and w; written (beta 0), or added to dx when `accumulate`.
  void backward_data(void* dx, const void* dy, const void* w, bool accumulate = false);
  // dw (dtype) from dy and x, written; db (fp32, C_out) written when not null.
  void backward_weights(void* dw, float* db, const void* dy, const void* x);

  // The chosen algorithms and workspace, for logs ("fwd IMPLICIT_PRECOMP_GEMM 0 B ...").
  std::string describe() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shrike::kernels
