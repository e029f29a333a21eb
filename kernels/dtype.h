// kernels/dtype.h
//
// The element types of the CUDA backend's activations. fp32 is the reference and the
// test mode; bf16 is mixed precision (amp=True): activations, their gradients and the
// convolutions in bf16, while master weights, optimizer state, BatchNorm statistics
// and the loss stay fp32. Kernels are templates instantiated for both (float and
// __nv_bfloat16 in .cu files); every one computes in fp32 and rounds on store.
#pragma once

#include <cstddef>

namespace shrike::kernels {

enum class DType { kF32, kBF16 };

inline std::size_t dtype_size(DType type) { return type == DType::kF32 ? 4 : 2; }
inline const char* dtype_name(DType type) { return type == DType::kF32 ? "fp32" : "bf16"; }

}  // namespace shrike::kernels
