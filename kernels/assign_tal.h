// kernels/assign_tal.h
//
// The task-aligned assigner (TAL) of the v8 detection loss (spec § 2 item 5): which
// anchors are foreground, which ground-truth box each one learns, and the soft class
// targets. It has no gradient; the loss treats everything it returns as constants.
//
// Behaviour follows Ultralytics 8.2/8.3 ultralytics/utils/tal.py TaskAlignedAssigner
// step for step (details the spec leaves open are noted in assign_tal.cpp):
//   candidate(g, a)  = min(ax - x1, ay - y1, x2 - ax, y2 - ay) > 1e-9, GT g valid
//   overlap(g, a)    = clamp(CIoU(gt_g, pred_a), 0) on candidates, else 0
//   align(g, a)      = score(a, label_g)^alpha * overlap^beta on candidates, else 0
//   positive(g, a)   = a is in the top-k of align(g, .) and a candidate of g
//   an anchor positive for several GTs goes to argmax_g overlap(g, a) over every GT
//   target_scores(a) = one-hot(label) * align(g, a) * max_pos overlap(g) / (max_pos align(g) + eps)
// The CPU version is the reference for a later CUDA one. Images are independent
// and processed in parallel; results do not depend on the thread count.
#pragma once

namespace shrike::kernels {

struct TalConfig {
  int topk = 10;
  double alpha = 0.5;  // exponent of the class score
  double beta = 6.0;   // exponent of the CIoU
  double eps = 1e-9;
};

template <typename T>
struct TalInputs {
  const T* scores;                 // (batch, num_anchors, nc) sigmoid class scores
  const T* pred_boxes;             // (batch, num_anchors, 4) decoded predictions, xyxy pixels
  const T* anchor_points;          // (num_anchors, 2) anchor centres (x, y), pixels
  const int* gt_labels;            // (batch, max_gts) class index (padded rows 0)
  const T* gt_boxes;               // (batch, max_gts, 4) xyxy pixels (padded rows 0)
  const unsigned char* gt_valid;   // (batch, max_gts) 1 for a real GT, 0 for padding
  int batch = 0, num_anchors = 0, nc = 0, max_gts = 0;
};

// All outputs are written for every anchor, foreground or not.
template <typename T>
struct TalOutputs {
  int* target_labels;              // (batch, num_anchors) label of the assigned GT
  T* target_boxes;                 // (batch, num_anchors, 4) xyxy pixels of the assigned GT
  T* target_scores;                // (batch, num_anchors, nc) soft one-hot, 0 on background
  unsigned char* fg_mask;          // (batch, num_anchors) 1 = foreground
  int* target_gt_index;            // (batch, num_anchors) index into the image's GT rows
};

template <typename T>
void assign_tal_cpu(const TalInputs<T>& inputs, const TalConfig& config, const TalOutputs<T>& outputs);

}  // namespace shrike::kernels
