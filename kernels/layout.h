// kernels/layout.h
//
// The memory order of an activation. Shapes (Shape4) are always logical (N, C, H, W);
// a layout says how those elements lie in memory:
//  - kNCHW: planes of H x W per channel (PyTorch's order; the CUDA backend, the loss,
//    the decode and every file format use it);
//  - kNHWC: the C channels of each pixel together. The CPU engine keeps its
//    activations in this order because oneDNN's convolutions run on it natively: in
//    NCHW each convolution reorders its input and output into oneDNN's blocked layout
//    and back, 17 % of a yolov8n training step (bench/RESULTS.md).
// The transposes move a tensor between the two; T is float, double (the
// finite-difference tests) or int32 (max pooling's argmax).
#pragma once

#include "kernels/tensor.h"

namespace shrike::kernels {

enum class Layout { kNCHW, kNHWC };

// dst (N, H, W, C) = src (N, C, H, W)
template <typename T>
void nchw_to_nhwc_cpu(T* dst, const T* src, Shape4 shape);
// dst (N, C, H, W) = src (N, H, W, C)
template <typename T>
void nhwc_to_nchw_cpu(T* dst, const T* src, Shape4 shape);

}  // namespace shrike::kernels
