// kernels/optimizer_update.h
//
// The optimizer's arithmetic over flat float buffers (DESIGN.md § One parameter
// buffer): SGD (momentum, Nesterov), Adam / AdamW with bias correction, the global
// gradient norm and its clipping scale, and the EMA update. Each is a single fused
// pass with PyTorch's semantics (torch.optim.SGD / Adam / AdamW, amsgrad off;
// torch.nn.utils.clip_grad_norm_; Ultralytics ModelEMA.update), in float32 with the
// hyperparameters rounded to float as torch rounds Python scalars for float tensors.
// These CPU versions are the reference the CUDA kernels must match.
//
// Parameter groups: the trainable buffer interleaves tensors of different groups
// (conv weight, BN weight, BN bias, ...), so an update runs over a list of
// UpdateSpans, each naming a range of the flat buffers and the group whose
// hyperparameters apply. tile_spans() cuts long spans so that one parallel loop over
// spans balances across threads: one pass over the buffer for all groups.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/optimizer_params.h"

namespace shrike::kernels {

// UpdateSpan (a range of the flat buffers and its group) and AdamSettings are in
// optimizer_params.h, shared with the CUDA twin.

// Cuts every span into pieces of at most `tile` elements (same group, same order).
std::vector<UpdateSpan> tile_spans(std::span<const UpdateSpan> spans, std::size_t tile = 1 << 15);

struct SgdGroup {
  double lr = 0.01;
  double momentum = 0.9;
  double weight_decay = 0;  // L2, added to the gradient
};

// torch.optim.SGD(nesterov, dampening 0), per element of each span:
//   g = grad + wd * p
//   buf = first_step ? g : momentum * buf + g
//   p -= lr * (nesterov ? g + momentum * buf : buf)
// param, grad, momentum_buffer: flat buffers indexed by the spans' offsets.
void sgd_update_cpu(float* param, const float* grad, float* momentum_buffer, std::span<const UpdateSpan> spans,
                    std::span<const SgdGroup> groups, bool nesterov, bool first_step);

struct AdamGroup {
  double lr = 0.001;
  double weight_decay = 0;
};

// torch.optim.Adam / AdamW (amsgrad off), per element:
//   AdamW: p *= 1 - lr * wd            Adam: g = grad + wd * p
//   m += (1 - beta1) * (g - m)         (torch's lerp)
//   v = beta2 * v + (1 - beta2) * g * g
//   p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// param, grad, exp_avg, exp_avg_sq: flat buffers indexed by the spans' offsets.
void adam_update_cpu(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                     std::span<const UpdateSpan> spans, std::span<const AdamGroup> groups,
                     const AdamSettings& settings);

// sum(x[i]^2) over (n), accumulated in double over fixed 64K-element blocks summed in
// order, so the result does not depend on the thread count.
double sum_squares_cpu(const float* x, std::size_t n);

// clip_grad_norm_'s factor: max_norm / (norm + 1e-6) when that is < 1, else 1.
double clip_factor(double norm, double max_norm);

// x *= factor, (n) contiguous, in place.
void scale_in_place_cpu(float* x, float factor, std::size_t n);

// ema = d * ema + (1 - d) * model over (n), as torch's `v *= d; v += (1 - d) * m` in
// float32 (d and 1 - d computed in double, then rounded to float).
void ema_update_cpu(float* ema, const float* model, std::size_t n, double decay);

}  // namespace shrike::kernels
