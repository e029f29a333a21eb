// kernels/elementwise_cuda.h
//
// CUDA twins of activation.h and elementwise.h (SiLU, add, accumulate, channel-range
// copies for concat and split), plus the casts mixed precision needs. Templates
// instantiated for T = float and T = __nv_bfloat16; arithmetic in fp32, rounded to T on
// store. All calls are queued on `stream` and never synchronise. Contracts (what is
// written, what may alias) are those of the CPU versions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/tensor.h"

namespace shrike::kernels {

using bf16 = __nv_bfloat16;

template <typename T>
void silu_forward_cuda(T* out, const T* inp, std::size_t n, cudaStream_t stream);
template <typename T>
void silu_backward_cuda(T* dinp, const T* dout, const T* inp, std::size_t n, cudaStream_t stream);

// out = a + b.
template <typename T>
void add_cuda(T* out, const T* a, const T* b, std::size_t n, cudaStream_t stream);
// acc += x.
template <typename T>
void accumulate_cuda(T* acc, const T* x, std::size_t n, cudaStream_t stream);

// Channels of src (N, Cs, H, W) into channels [offset, offset + Cs) of dst (N, Cd, H, W).
template <typename T>
void copy_into_channels_cuda(T* dst, int dst_channels, int offset, const T* src, Shape4 src_shape,
                             cudaStream_t stream);
// Channels [offset, offset + Cd) of src (N, Cs, H, W) into dst (N, Cd, H, W).
template <typename T>
void copy_from_channels_cuda(T* dst, Shape4 dst_shape, const T* src, int src_channels, int offset,
                             cudaStream_t stream);

// out = To(in): float -> bf16 (round to nearest even), bf16 -> float, or a plain copy.
template <typename From, typename To>
void cast_cuda(To* out, const From* in, std::size_t n, cudaStream_t stream);
// acc (fp32) += float(x) (a bf16 gradient into an fp32 accumulator) or acc = float(x)
// when `overwrite`.
template <typename T>
void accumulate_to_float_cuda(float* acc, const T* x, std::size_t n, bool overwrite, cudaStream_t stream);

// Bias: y (N, C, H, W) += bias (C, fp32); db (C, fp32) = sum over N, H, W of dy.
template <typename T>
void add_channel_bias_cuda(T* y, const float* bias, Shape4 shape, cudaStream_t stream);
template <typename T>
void channel_bias_grad_cuda(float* db, const T* dy, Shape4 shape, cudaStream_t stream);

// Images: uint8 (N, H, W, 3) RGB -> T (N, 3, H, W) in 0..1 (x / 255), the network input.
template <typename T>
void images_u8_to_nchw_cuda(T* out, const unsigned char* pixels, int n, int h, int w, cudaStream_t stream);

}  // namespace shrike::kernels
