// kernels/upsample.h
//
// Nearest-neighbour upsampling by an integer factor (the YOLO necks use 2), as
// nn.Upsample(scale_factor=2, mode="nearest"): output (y, x) copies input
// (y / f, x / f). Backward sums each f x f block. x: (N, C, H, W); y: (N, C, fH, fW).
#pragma once

#include "kernels/tensor.h"

namespace shrike::kernels {

template <typename T>
void upsample_nearest_forward_cpu(T* y, const T* x, Shape4 input, int factor);
// dx written (not accumulated).
template <typename T>
void upsample_nearest_backward_cpu(T* dx, const T* dy, Shape4 input, int factor);

// The same on NHWC tensors (kernels/layout.h); the backward sums in the same order.
template <typename T>
void upsample_nearest_forward_nhwc_cpu(T* y, const T* x, Shape4 input, int factor);
template <typename T>
void upsample_nearest_backward_nhwc_cpu(T* dx, const T* dy, Shape4 input, int factor);

}  // namespace shrike::kernels
