// kernels/nms.h
//
// Non-maximum suppression as the reference's validation runs it (Ultralytics 8.3
// ultralytics/utils/ops.py non_max_suppression with the DetectionValidator's
// arguments; spec § 5): from the decoded head output (kernels/detect_decode.h) to
// at most max_det detections per image, xyxy in input pixels.
//
// Per image, following the source step by step:
//   1. candidates: multi-label (nc > 1): every (anchor, class) with score > conf_thres,
//      in row-major order (anchor, then class), as torch.where(cls > conf) lists them;
//      best-class (multi_label off, or nc == 1): the first maximal class of each anchor
//      if its score > conf_thres;
//   2. more than max_nms candidates: keep the max_nms highest scores (a stable sort,
//      so equal scores keep candidate order; the reference's argsort is unstable);
//   3. boxes offset by class * max_wh (0 when agnostic) so classes never suppress
//      each other; greedy NMS with torchvision.ops.nms semantics (nms_greedy_cpu);
//   4. the first max_det kept boxes, in decreasing score order.
// Arithmetic in float as the reference (torch float32 tensors); the IoU threshold
// is compared in double, as torchvision's kernel does. The reference's wall-clock
// time limit (2 s + 0.05 s per image) is not reproduced: results never depend on time.
#pragma once

#include <span>
#include <vector>

#include "kernels/nms_types.h"

namespace shrike::kernels {

// Detection (one kept box) and NmsConfig are in nms_types.h, shared with the CUDA twin.

// torchvision.ops.nms on the CPU: boxes (n, 4) xyxy, scores (n). Order by score
// descending (stable: ties by index), keep a box unless an already kept one overlaps
// it with IoU > iou_thres; IoU = inter / (area_i + area_j - inter) in float. Returns the
// kept indices in that order.
std::vector<int> nms_greedy_cpu(std::span<const float> boxes, std::span<const float> scores, double iou_thres);

// predictions: (num_anchors, 4 + nc) rows [cx, cy, w, h, score_0 .. score_{nc-1}] of one
// image (the decode's layout). Returns the image's detections, score descending.
std::vector<Detection> non_max_suppression_image_cpu(const float* predictions, int num_anchors, int nc,
                                                     const NmsConfig& config);

// predictions: (batch, num_anchors, 4 + nc); one vector per image (images in parallel).
std::vector<std::vector<Detection>> non_max_suppression_cpu(const float* predictions, int batch, int num_anchors,
                                                            int nc, const NmsConfig& config);

}  // namespace shrike::kernels
