// kernels/attention.h
//
// The multi-head self-attention core of YOLO11's C2PSA (Ultralytics `Attention`):
// from the qkv convolution's output, viewed as (B, heads, 2*kd + hd, N) with
// N = H * W and split along dim 2 into q (kd), k (kd), v (hd):
//   P = softmax_over_m(scale * q[:, n]^T k[:, m])       (B, heads, N, N)
//   o[d, n] = sum_m v[d, m] P[n, m]                     (B, heads * hd, H, W)
//   v_image = v reshaped to (B, heads * hd, H, W)       (input of the pe conv)
// P is saved for backward. Backward takes the gradients of both outputs and writes
// the gradient of qkv (not accumulated).
#pragma once

#include "kernels/tensor.h"

namespace shrike::kernels {

struct AttentionGeometry {
  int batch = 0, heads = 1, key_dim = 0, head_dim = 0, h = 0, w = 0;
  float scale = 1.0f;  // key_dim ^ -0.5
  int tokens() const { return h * w; }
  int qkv_channels() const { return heads * (2 * key_dim + head_dim); }
  int out_channels() const { return heads * head_dim; }
  std::size_t probs_numel() const {
    return static_cast<std::size_t>(batch) * heads * tokens() * tokens();
  }
};

// qkv: (B, heads*(2kd+hd), H, W); out, v_image: (B, heads*hd, H, W); probs: (B, heads, N, N).
// T is float (training) or double (finite-difference tests of the same code).
template <typename T>
void attention_forward_cpu(T* out, T* v_image, T* probs, const T* qkv, const AttentionGeometry& g);
template <typename T>
void attention_backward_cpu(T* dqkv, const T* dout, const T* dv_image, const T* qkv, const T* probs,
                            const AttentionGeometry& g);

}  // namespace shrike::kernels
