// kernels/detect_decode.h
//
// The Detect head's inference decode (spec § 1, "Inference output"): from the raw
// head maps of the three levels to boxes in input pixels and class scores, the
// tensor that NMS (kernels/nms.h) and prediction read. The CPU version is the
// reference a CUDA one must match.
//
// Per anchor (grid cell centre (x+0.5, y+0.5) in grid units, levels in order,
// row-major within a level; channel layout as kernels/detect_loss.h):
//   d_side = sum_k k * softmax_k(box logits of side)        (DFL, sides l, t, r, b)
//   (x1, y1) = anchor - (d_l, d_t),  (x2, y2) = anchor + (d_r, d_b)
//   (cx, cy, w, h) = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1) * stride
//   score_c = sigmoid(class logit c)
// as Ultralytics 8.3 Detect._inference (dist2bbox(xywh=True) then * strides), with
// the same operation order.
//
// Layout chosen: anchor-major (batch, A, 4 + nc), rows [cx, cy, w, h, score_0 ..
// score_{nc-1}], i.e. the reference's (batch, 4 + nc, A) transposed, which is the
// layout its NMS transposes to first. Instantiated for float and double (tests).
#pragma once

#include <cstddef>
#include <span>

#include "kernels/detect_loss.h"  // HeadLevel

namespace shrike::kernels {

// A = sum over levels of h * w.
template <typename T>
std::size_t detect_anchor_count(std::span<const HeadLevel<T>> levels) {
  std::size_t count = 0;
  for (const auto& level : levels) count += static_cast<std::size_t>(level.h) * level.w;
  return count;
}

// levels[l].data: NCHW (batch, 4*reg_max + nc, h, w); out: (batch, A, 4 + nc), every
// entry written. reg_max in [1, 64]; throws std::invalid_argument outside.
template <typename T>
void detect_decode_cpu(std::span<const HeadLevel<T>> levels, int batch, int nc, int reg_max, T* out);

}  // namespace shrike::kernels
