// kernels/attention_cuda.h
//
// CUDA twin of attention.h (C2PSA's multi-head self-attention core): the two products
// per (batch, head) as cuBLAS strided-batched GEMMs with fp32 accumulation, softmax and
// its backward as kernels of ours. T = float or __nv_bfloat16 for qkv, out, v_image and
// their gradients; probs are kept in fp32 (B, heads, N, N) for an exact softmax backward.
// Uses the context's cuBLAS handle, stream and workspace.
#pragma once

#include "kernels/attention.h"
#include "kernels/cuda_context.h"

namespace shrike::kernels {

template <typename T>
void attention_forward_cuda(CudaContext& context, T* out, T* v_image, float* probs, const T* qkv,
                            const AttentionGeometry& g);
// dqkv written (not accumulated).
template <typename T>
void attention_backward_cuda(CudaContext& context, T* dqkv, const T* dout, const T* dv_image, const T* qkv,
                             const float* probs, const AttentionGeometry& g);

}  // namespace shrike::kernels
