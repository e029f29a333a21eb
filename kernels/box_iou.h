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
// Header-only so a CUDA version can include the same scalar code: every function is
// __host__ __device__ under nvcc (detect_loss.cu), plain inline C++ elsewhere, and
// compiles as C++17 (the CUDA sources' standard), so no <numbers>.
#pragma once

#include <algorithm>
#include <cmath>

#if defined(__CUDACC__)
#define SHRIKE_HOST_DEVICE __host__ __device__
#else
#define SHRIKE_HOST_DEVICE
#endif

#if __cplusplus >= 202002L
#include <numbers>
#endif

namespace shrike::kernels {

// box: (x1, y1, x2, y2); xywh: (cx, cy, w, h)
template <typename T>
SHRIKE_HOST_DEVICE inline void xywh_to_xyxy(T* box, const T* xywh) {
  const T half_w = xywh[2] / T(2), half_h = xywh[3] / T(2);
  box[0] = xywh[0] - half_w;
  box[1] = xywh[1] - half_h;
  box[2] = xywh[0] + half_w;
  box[3] = xywh[1] + half_h;
}

template <typename T>
SHRIKE_HOST_DEVICE inline void xyxy_to_xywh(T* xywh, const T* box) {
  xywh[0] = (box[0] + box[2]) / T(2);
  xywh[1] = (box[1] + box[3]) / T(2);
  xywh[2] = box[2] - box[0];
  xywh[3] = box[3] - box[1];
}

// ltrb: distances (left, top, right, bottom) from `anchor` (x, y) -> box xyxy.
template <typename T>
SHRIKE_HOST_DEVICE inline void dist_to_bbox(T* box, const T* ltrb, const T* anchor) {
  box[0] = anchor[0] - ltrb[0];
  box[1] = anchor[1] - ltrb[1];
  box[2] = anchor[0] + ltrb[2];
  box[3] = anchor[1] + ltrb[3];
}

// box xyxy -> distances (l, t, r, b) from `anchor`, each clamped to [0, max_dist]
// (the DFL target uses max_dist = reg_max - 1 - 0.01).
template <typename T>
SHRIKE_HOST_DEVICE inline void bbox_to_dist(T* ltrb, const T* anchor, const T* box, T max_dist) {
  ltrb[0] = std::clamp(anchor[0] - box[0], T(0), max_dist);
  ltrb[1] = std::clamp(anchor[1] - box[1], T(0), max_dist);
  ltrb[2] = std::clamp(box[2] - anchor[0], T(0), max_dist);
  ltrb[3] = std::clamp(box[3] - anchor[1], T(0), max_dist);
}

namespace detail {

// Every intermediate of the CIoU forward pass (the gradient reuses them).
template <typename T>
struct CiouState {
  T x1, y1, x2, y2;                 // box1
  T w1, h1;
  T overlap_w, overlap_h, inter_w, inter_h, inter;
  T union_area, iou;
  T enclose_w, enclose_h, c2;
  T center_dx, center_dy, rho2;
  T angle_diff, v, alpha;
};

// pi as a double literal (std::numbers::pi is C++20); the same double, checked below.
inline constexpr double kPi = 3.141592653589793238462643383279502884;
#if __cplusplus >= 202002L
static_assert(kPi == std::numbers::pi);
#endif

template <typename T>
constexpr T four_over_pi2 = T(4.0 / (kPi * kPi));

template <typename T>
SHRIKE_HOST_DEVICE CiouState<T> ciou_state(const T* box1, const T* box2) {
  const T eps = T(1e-7);
  CiouState<T> s;
  s.x1 = box1[0], s.y1 = box1[1], s.x2 = box1[2], s.y2 = box1[3];
  const T X1 = box2[0], Y1 = box2[1], X2 = box2[2], Y2 = box2[3];
  s.w1 = s.x2 - s.x1, s.h1 = s.y2 - s.y1 + eps;
  const T w2 = X2 - X1, h2 = Y2 - Y1 + eps;
  s.overlap_w = std::min(s.x2, X2) - std::max(s.x1, X1);
  s.overlap_h = std::min(s.y2, Y2) - std::max(s.y1, Y1);
  s.inter_w = std::max(s.overlap_w, T(0)), s.inter_h = std::max(s.overlap_h, T(0));
  s.inter = s.inter_w * s.inter_h;
  s.union_area = s.w1 * s.h1 + w2 * h2 - s.inter + eps;
  s.iou = s.inter / s.union_area;
  s.enclose_w = std::max(s.x2, X2) - std::min(s.x1, X1);
  s.enclose_h = std::max(s.y2, Y2) - std::min(s.y1, Y1);
  s.c2 = s.enclose_w * s.enclose_w + s.enclose_h * s.enclose_h + eps;
  s.center_dx = X1 + X2 - s.x1 - s.x2, s.center_dy = Y1 + Y2 - s.y1 - s.y2;
  s.rho2 = (s.center_dx * s.center_dx + s.center_dy * s.center_dy) / T(4);
  s.angle_diff = std::atan(w2 / h2) - std::atan(s.w1 / s.h1);
  s.v = four_over_pi2<T> * s.angle_diff * s.angle_diff;
  s.alpha = s.v / (s.v - s.iou + T(1 + 1e-7));
  return s;
}

// d(iou - (rho2 / c2 + v * alpha))/d(box1) with alpha constant; box2 = (X1, Y1, X2, Y2).
template <typename T>
SHRIKE_HOST_DEVICE void ciou_gradient(const CiouState<T>& s, const T* box2, T alpha, T* grad_box1) {
  const T X1 = box2[0], Y1 = box2[1], X2 = box2[2], Y2 = box2[3];
  // d(inter): the overlap extents move with box1's sides only where box1 bounds them.
  const bool overlapping = s.overlap_w > T(0) && s.overlap_h > T(0);
  const T dinter[4] = {(overlapping && s.x1 > X1) ? -s.inter_h : T(0), (overlapping && s.y1 > Y1) ? -s.inter_w : T(0),
                       (overlapping && s.x2 < X2) ? s.inter_h : T(0), (overlapping && s.y2 < Y2) ? s.inter_w : T(0)};
  // d(area1) = h1 dw1 + w1 dh1, dw1 = dx2 - dx1, dh1 = dy2 - dy1.
  const T darea[4] = {-s.h1, -s.w1, s.h1, s.w1};
  // d(c2) = 2 cw dcw + 2 ch dch, box1 moving the enclosing box where it bounds it.
  const T dc2[4] = {s.x1 < X1 ? -T(2) * s.enclose_w : T(0), s.y1 < Y1 ? -T(2) * s.enclose_h : T(0),
                    s.x2 > X2 ? T(2) * s.enclose_w : T(0), s.y2 > Y2 ? T(2) * s.enclose_h : T(0)};
  // d(rho2) = (center_dx d(center_dx) + center_dy d(center_dy)) / 2, d(center_d*) = -1.
  const T drho2[4] = {-s.center_dx / T(2), -s.center_dy / T(2), -s.center_dx / T(2), -s.center_dy / T(2)};
  // d(atan(w1/h1)) = (h1 dw1 - w1 dh1) / (w1^2 + h1^2); dv = -2 k angle_diff d(atan).
  const T datan_scale = T(1) / (s.w1 * s.w1 + s.h1 * s.h1);
  const T datan[4] = {-s.h1 * datan_scale, s.w1 * datan_scale, s.h1 * datan_scale, -s.w1 * datan_scale};
  const T dv_datan = -T(2) * four_over_pi2<T> * s.angle_diff;
  for (int k = 0; k < 4; ++k) {
    const T dunion = darea[k] - dinter[k];
    const T diou = (dinter[k] * s.union_area - s.inter * dunion) / (s.union_area * s.union_area);
    const T dpenalty = (drho2[k] * s.c2 - s.rho2 * dc2[k]) / (s.c2 * s.c2);
    grad_box1[k] = diou - dpenalty - alpha * dv_datan * datan[k];
  }
}

}  // namespace detail

// CIoU of box1 and box2 (xyxy). When grad_box1 is not null it receives
// d(ciou)/d(box1) with alpha held constant.
template <typename T>
SHRIKE_HOST_DEVICE inline T ciou_xyxy(const T* box1, const T* box2, T* grad_box1 = nullptr) {
  const detail::CiouState<T> s = detail::ciou_state(box1, box2);
  if (grad_box1 != nullptr) detail::ciou_gradient(s, box2, s.alpha, grad_box1);
  return s.iou - (s.rho2 / s.c2 + s.v * s.alpha);
}

// The CIoU's alpha for a pair of boxes (the no-gradient weight of its aspect term).
template <typename T>
SHRIKE_HOST_DEVICE inline T ciou_alpha_xyxy(const T* box1, const T* box2) {
  return detail::ciou_state(box1, box2).alpha;
}

// iou - (rho2 / c2 + v * alpha) with alpha given, and its gradient w.r.t. box1 when
// grad_box1 is not null: with alpha = ciou_alpha_xyxy at the same boxes this is
// ciou_xyxy, and it is the function whose derivative ciou_xyxy's gradient is (checks
// by finite differences hold alpha here).
template <typename T>
SHRIKE_HOST_DEVICE inline T ciou_xyxy_given_alpha(const T* box1, const T* box2, T alpha, T* grad_box1 = nullptr) {
  const detail::CiouState<T> s = detail::ciou_state(box1, box2);
  if (grad_box1 != nullptr) detail::ciou_gradient(s, box2, alpha, grad_box1);
  return s.iou - (s.rho2 / s.c2 + s.v * alpha);
}

}  // namespace shrike::kernels
