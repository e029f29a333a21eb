// kernels/pool_cuda.h
//
// CUDA twins of pool.h (max pooling with argmax, first maximum in scan order on ties)
// and upsample.h (nearest, integer factor). T = float or __nv_bfloat16. Backward
// writes dx (not accumulated), as the CPU versions.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/pool.h"
#include "kernels/upsample.h"

namespace shrike::kernels {

template <typename T>
void maxpool_forward_cuda(T* y, std::int32_t* argmax, const T* x, const PoolGeometry& g, cudaStream_t stream);
template <typename T>
void maxpool_backward_cuda(T* dx, const T* dy, const std::int32_t* argmax, const PoolGeometry& g,
                           cudaStream_t stream);

template <typename T>
void upsample_nearest_forward_cuda(T* y, const T* x, Shape4 input, int factor, cudaStream_t stream);
template <typename T>
void upsample_nearest_backward_cuda(T* dx, const T* dy, Shape4 input, int factor, cudaStream_t stream);

}  // namespace shrike::kernels
