// kernels/detect_loss.h
//
// The v8 / YOLO11 detection loss (spec § 2), forward and backward, on the CPU: from
// the raw head maps of the three levels and the batch's targets to the three loss
// items and d(total)/d(head maps). This is the reference a CUDA version must match.
//
// Head maps: level l is NCHW (batch, 4*reg_max + nc, h, w) with its stride; channels
// [0, 4*reg_max) are the box logits, side-major (channel = side*reg_max + bin, sides
// l, t, r, b), channels [4*reg_max, 4*reg_max + nc) the class logits. Anchors are the
// grid cell centres (x+0.5, y+0.5), levels in order, row-major within a level.
//
// The loss runs in two steps that can also be called separately:
//   1. assign_detect_targets_cpu: decode, TAL assignment, target scores (no gradient);
//   2. detect_loss_given_assignment_cpu: cls / box / dfl terms and their gradient,
//      holding the assignment constant.
// detect_loss_cpu is the two in sequence. The gradient is the derivative of step 2
// with the assignment and the CIoU alpha held constant: both move with the
// predictions, but the reference computes them under no_grad, so a finite-difference
// check must freeze them (the assignment by reusing it, alpha by freeze_ciou_alpha_cpu).
// Sums are per-anchor terms added in anchor order, so results do not depend on the
// number of OpenMP threads.
#pragma once

#include <span>
#include <vector>

namespace shrike::kernels {

struct DetectLossConfig {
  int nc = 80;
  int reg_max = 16;
  float box_gain = 7.5f, cls_gain = 0.5f, dfl_gain = 1.5f;
  int topk = 10;
  float alpha = 0.5f, beta = 6.0f;
  // The multiplier of the differentiated total (the reference's batch size). 0: this
  // call's batch. Data-parallel training passes the global batch, with the target
  // score sum of all ranks in the assignment, so that the gradients summed over ranks
  // equal one process's over the global batch.
  int total_scale = 0;
};

// One detection level's raw head output, NCHW (batch, 4*reg_max + nc, h, w), with its stride (8, 16, 32).
template <typename T>
struct HeadLevel {
  const T* data;
  int h, w, stride;
};

// Items with gains applied (as the reference logs them); total = (box + cls + dfl) * batch,
// the value differentiated.
template <typename T>
struct DetectLossResult {
  T box, cls, dfl;
  T total;
};

// The assignment of one batch, anchors in head order (A = sum of h*w over levels).
template <typename T>
struct DetectAssignment {
  int batch = 0, num_anchors = 0, nc = 0, max_gts = 0;
  std::vector<int> target_labels;           // (batch, A) class of the assigned GT (see assign_tal.h)
  std::vector<T> target_boxes;              // (batch, A, 4) xyxy, input pixels
  std::vector<T> target_scores;             // (batch, A, nc) soft labels, 0 on background
  std::vector<unsigned char> fg_mask;       // (batch, A)
  std::vector<int> target_gt_index;         // (batch, A) row of the image's GT list
  T target_scores_sum = T(1);               // max(sum of target_scores, 1): the normaliser
  double target_scores_raw_sum = 0;         // sum of target_scores (all-reduced across ranks)
  // Optional, (batch, A): the CIoU alpha of each foreground anchor. Empty: the loss
  // computes it from the boxes (and, as the reference, gives it no gradient). Set by
  // freeze_ciou_alpha_cpu for finite-difference checks, which must hold it constant.
  std::vector<T> ciou_alpha;
};

// targets: (num_targets, 6) rows [image_index, class, cx, cy, w, h] normalised 0..1;
// the image size (H, W) in pixels is (levels[0].h * levels[0].stride, levels[0].w * levels[0].stride).
// Throws std::invalid_argument for an image index outside [0, batch) or a class outside [0, nc).
template <typename T>
DetectAssignment<T> assign_detect_targets_cpu(std::span<const HeadLevel<T>> levels, int batch, const float* targets,
                                              int num_targets, const DetectLossConfig& config);

// grads[l] (same shape as levels[l].data) receives d(total)/d(head output), written (not
// accumulated); an empty span, or nullptrs, skips the backward pass.
template <typename T>
DetectLossResult<T> detect_loss_given_assignment_cpu(std::span<const HeadLevel<T>> levels, int batch,
                                                     const DetectAssignment<T>& assignment,
                                                     const DetectLossConfig& config, std::span<T* const> grads);

// Fills assignment.ciou_alpha with the alphas at these head maps (for gradient checks).
template <typename T>
void freeze_ciou_alpha_cpu(std::span<const HeadLevel<T>> levels, int batch, const DetectLossConfig& config,
                           DetectAssignment<T>& assignment);

template <typename T>
DetectLossResult<T> detect_loss_cpu(std::span<const HeadLevel<T>> levels, int batch, const float* targets,
                                    int num_targets, const DetectLossConfig& config, std::span<T* const> grads);

}  // namespace shrike::kernels
