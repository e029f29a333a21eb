// kernels/box_iou.h
//
// Box geometry shared by the v8 detection loss and its assigner: the Complete IoU
// (CIoU) of two xyxy boxes with its analytic gradient, and the small conversions
// between box forms (xywh <-> xyxy, anchor-relative (l, t, r, b) distances <-> xyxy).
//
// CIoU follows the reference (Ultralytics bbox_iou(..., xywh=False, CIoU=True), spec
// § 2 item 8) operation for operation, eps = 1e-7:
//   w = x2 - x1, h = y2 - y1 + eps            (eps on the heights only, as the reference)
//   inter = max(0, min(x2) - max(x1)) * max(0, min(y2) - max(y1))
//   union = w1 h1 + w2 h2 - inter + eps,  iou = inter / union
//   c2 = cw^2 + ch^2 + eps                     (enclosing box diagonal squared)
//   rho2 = ((X1 + X2 - x1 - x2)^2 + (Y1 + Y2 - y1 - y2)^2) / 4
//   v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2,  alpha = v / (v - iou + 1 + eps)
//   ciou = iou - (rho2 / c2 + v alpha)
// alpha is a constant for the gradient (the reference computes it under no_grad).
// CIoU is symmetric in its two boxes; the gradient is taken w.r.t. the first one.
// At the kinks (min/max ties, an overlap of exactly zero) the gradient takes the
// one-sided branch written below; random inputs never sit on them.
// Header-only so a CUDA version can include the same scalar code.
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>

namespace shrike::kernels {

// box: (x1, y1, x2, y2); xywh: (cx, cy, w, h)
template <typename T>
inline void xywh_to_xyxy(T* box, const T* xywh) {
  const T half_w = xywh[2] / T(2), half_h = xywh[3] / T(2);
  box[0] = xywh[0] - half_w;
  box[1] = xywh[1] - half_h;
  box[2] = xywh[0] + half_w;
  box[3] = xywh[1] + half_h;
}

template <typename T>
inline void xyxy_to_xywh(T* xywh, const T* box) {
  xywh[0] = (box[0] + box[2]) / T(2);
  xywh[1] = (box[1] + box[3]) / T(2);
  xywh[2] = box[2] - box[0];
  xywh[3] = box[3] - box[1];
}

// ltrb: distances (left, top, right, bottom) from `anchor` (x, y) -> box xyxy.
template <typename T>
inline void dist_to_bbox(T* box, const T* ltrb, const T* anchor) {
  box[0] = anchor[0] - ltrb[0];
  box[1] = anchor[1] - ltrb[1];
  box[2] = anchor[0] + ltrb[2];
  box[3] = anchor[1] + ltrb[3];
}

// box xyxy -> distances (l, t, r, b) from `anchor`, each clamped to [0, max_dist]
// (the DFL target uses max_dist = reg_max - 1 - 0.01).
template <typename T>
inline void bbox_to_dist(T* ltrb, const T* anchor, const T* box, T max_dist) {
  ltrb[0] = std::clamp(anchor[0] - box[0], T(0), max_dist);
  ltrb[1] = std::clamp(anchor[1] - box[1], T(0), max_dist);
  ltrb[2] = std::clamp(box[2] - anchor[0], T(0), max_dist);
  ltrb[3] = std::clamp(box[3] - anchor[1], T(0), max_dist);
}

// CIoU of box1 and box2 (xyxy). When grad_box1 is not null it receives
// d(ciou)/d(box1) with alpha held constant.
template <typename T>
inline T ciou_xyxy(const T* box1, const T* box2, T* grad_box1 = nullptr) {
  const T eps = T(1e-7);
  const T x1 = box1[0], y1 = box1[1], x2 = box1[2], y2 = box1[3];
  const T X1 = box2[0], Y1 = box2[1], X2 = box2[2], Y2 = box2[3];
  const T w1 = x2 - x1, h1 = y2 - y1 + eps;
  const T w2 = X2 - X1, h2 = Y2 - Y1 + eps;

  const T overlap_w = std::min(x2, X2) - std::max(x1, X1);
  const T overlap_h = std::min(y2, Y2) - std::max(y1, Y1);
  const T inter_w = std::max(overlap_w, T(0)), inter_h = std::max(overlap_h, T(0));
  const T inter = inter_w * inter_h;
  const T area1 = w1 * h1;
  const T union_area = area1 + w2 * h2 - inter + eps;
  const T iou = inter / union_area;

  const T enclose_w = std::max(x2, X2) - std::min(x1, X1);
  const T enclose_h = std::max(y2, Y2) - std::min(y1, Y1);
  const T c2 = enclose_w * enclose_w + enclose_h * enclose_h + eps;
  const T center_dx = X1 + X2 - x1 - x2, center_dy = Y1 + Y2 - y1 - y2;
  const T rho2 = (center_dx * center_dx + center_dy * center_dy) / T(4);

  const T four_over_pi2 = T(4.0 / (std::numbers::pi * std::numbers::pi));
  const T angle_diff = std::atan(w2 / h2) - std::atan(w1 / h1);
  const T v = four_over_pi2 * angle_diff * angle_diff;
  const T alpha = v / (v - iou + T(1 + 1e-7));
  const T ciou = iou - (rho2 / c2 + v * alpha);
  if (grad_box1 == nullptr) return ciou;

  // d(inter): the overlap extents move with box1's sides only where box1 bounds them.
  const bool overlapping = overlap_w > T(0) && overlap_h > T(0);
  const T dinter_dx1 = (overlapping && x1 > X1) ? -inter_h : T(0);
  const T dinter_dx2 = (overlapping && x2 < X2) ? inter_h : T(0);
  const T dinter_dy1 = (overlapping && y1 > Y1) ? -inter_w : T(0);
  const T dinter_dy2 = (overlapping && y2 < Y2) ? inter_w : T(0);
  // d(area1) = h1 dw1 + w1 dh1, dw1 = dx2 - dx1, dh1 = dy2 - dy1.
  const T darea[4] = {-h1, -w1, h1, w1};
  const T dinter[4] = {dinter_dx1, dinter_dy1, dinter_dx2, dinter_dy2};
  // d(c2) = 2 cw dcw + 2 ch dch, box1 moving the enclosing box where it bounds it.
  const T dc2[4] = {x1 < X1 ? -T(2) * enclose_w : T(0), y1 < Y1 ? -T(2) * enclose_h : T(0),
                    x2 > X2 ? T(2) * enclose_w : T(0), y2 > Y2 ? T(2) * enclose_h : T(0)};
  // d(rho2) = (center_dx d(center_dx) + center_dy d(center_dy)) / 2, d(center_d*) = -1.
  const T drho2[4] = {-center_dx / T(2), -center_dy / T(2), -center_dx / T(2), -center_dy / T(2)};
  // d(atan(w1/h1)) = (h1 dw1 - w1 dh1) / (w1^2 + h1^2); dv = -2 k angle_diff d(atan).
  const T datan_scale = T(1) / (w1 * w1 + h1 * h1);
  const T datan[4] = {-h1 * datan_scale, w1 * datan_scale, h1 * datan_scale, -w1 * datan_scale};
  const T dv_datan = -T(2) * four_over_pi2 * angle_diff;

  for (int k = 0; k < 4; ++k) {
    const T dunion = darea[k] - dinter[k];
    const T diou = (dinter[k] * union_area - inter * dunion) / (union_area * union_area);
    const T dpenalty = (drho2[k] * c2 - rho2 * dc2[k]) / (c2 * c2);
    grad_box1[k] = diou - dpenalty - alpha * dv_datan * datan[k];
  }
  return ciou;
}

}  // namespace shrike::kernels
