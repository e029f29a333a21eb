// kernels/cuda_dtype.cuh
//
// Device-side loads and stores of the activation types (kernels/dtype.h): every kernel
// computes in fp32 and rounds on store, to_f32 / from_f32<T> are that rule in one place.
// Included by .cu files only.
#pragma once

#include <cuda_bf16.h>

namespace shrike::kernels {

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16(v);  // round to nearest even
}

}  // namespace shrike::kernels
