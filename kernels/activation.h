// kernels/activation.h
//
// SiLU, x * sigmoid(x), forward and backward. The CPU version is the reference.
// Backward writes dinp (it does not accumulate); the graph executor adds where two
// gradient paths meet.
#pragma once

#include <cstddef>

namespace shrike::kernels {

// out, inp: (n) contiguous; out may alias inp. T is float (training) or double
// (finite-difference tests of the same code).
template <typename T>
void silu_forward_cpu(T* out, const T* inp, std::size_t n);
// dinp, dout, inp: (n) contiguous; dinp may alias dout.
template <typename T>
void silu_backward_cpu(T* dinp, const T* dout, const T* inp, std::size_t n);

}  // namespace shrike::kernels
