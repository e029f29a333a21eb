// kernels/pool.h
//
// Max pooling (SPPF uses kernel 5, stride 1, padding 2 three times in a row).
// Forward records, per output, the flat input-plane index of the maximum (the first
// one in scan order on ties, as PyTorch's CPU kernel does); backward scatters the
// output gradient there. x: (N, C, H, W); y, argmax: (N, C, Ho, Wo).
#pragma once

#include <cstdint>

#include "kernels/tensor.h"

namespace shrike::kernels {

struct PoolGeometry {
  Shape4 input;
  int kernel = 5, stride = 1, padding = 2;
  Shape4 output() const;
};

template <typename T>
void maxpool_forward_cpu(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g);
// dx written (zeroed, then scattered into).
template <typename T>
void maxpool_backward_cpu(T* dx, const T* dy, const std::int32_t* argmax, const PoolGeometry& g);

// The same on NHWC tensors (kernels/layout.h): x (N, H, W, C); y, argmax (N, Ho, Wo, C),
// argmax still the input-plane index (y * W + x) of each output's maximum, with the
// same tie rule, so both layouts pick the same elements.
template <typename T>
void maxpool_forward_nhwc_cpu(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g);
template <typename T>
void maxpool_backward_nhwc_cpu(T* dx, const T* dy, const std::int32_t* argmax, const PoolGeometry& g);

}  // namespace shrike::kernels
