// pipeline/train/detection_metrics.h
//
// The validator's detection metrics (spec § 5; Ultralytics 8.3 DetectionValidator
// update_metrics / _process_batch / get_stats / print_results, BaseValidator
// match_predictions, metrics.py ap_per_class and Metric): accumulate per image
// which detections are true positives at the ten IoU thresholds, then P, R, mAP50,
// mAP50-95 and fitness over the dataset, and the console table.
//
// Boxes are compared in ORIGINAL image coordinates, as the reference does: map
// predictions (input pixels, from NMS) and labels (normalised to the letterboxed
// input) back with the letterbox helpers below before add_image.
//
// Matching per threshold t in torch.linspace(0.5, 0.95, 10) (float32), the
// reference's non-scipy branch: IoU (labels x detections, float32, eps 1e-7, zero
// for unequal classes); pairs with IoU >= t; sorted by IoU descending; one pair per
// detection (its best label; equal IoUs: the higher label index, as numpy's
// argsort()[::-1] leaves them); then, going through detections in INDEX order, one
// per label: a label goes to the lowest-index detection whose best label it is (the
// reference does not re-sort by IoU there). With detections in NMS order (score
// descending) that is the highest-scoring one. A detection whose best label went to
// another gets nothing at that threshold, even if it overlaps a free label.
//
// Dataset level: if no detection is a true positive at any threshold, every metric
// is 0 and there are no per-class rows (the reference skips metrics.process then).
// Otherwise per-class rows exist for every class with labels (ascending), including
// classes without predictions (AP, P, R = 0); predictions of classes without labels
// are ignored. P, R, mAP: means over those classes; fitness = 0.1 mAP50 + 0.9 mAP50-95.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/nms.h"
#include "pipeline/train/average_precision.h"

namespace shrike::train {

using Detection = kernels::Detection;  // {x1, y1, x2, y2, score, cls}

struct GroundTruth {
  float x1, y1, x2, y2;
  int cls;
};

// The letterbox between an original image and the network input:
// input = original * gain + pad (the reference's ratio_pad = ((gain, gain), (pad_x, pad_y))).
struct LetterboxMapping {
  float gain = 1.0f;
  float pad_x = 0.0f, pad_y = 0.0f;
  int original_width = 0, original_height = 0;
};

// ops.scale_boxes without ratio_pad: gain = min(input_h / orig_h, input_w / orig_w),
// pad = (round((input_w - orig_w * gain) / 2 - 0.1), round((input_h - orig_h * gain) / 2 - 0.1)).
LetterboxMapping letterbox_mapping_for(int input_width, int input_height, int original_width, int original_height);

// ops.scale_boxes: box xyxy (4) in input pixels -> original pixels, (v - pad) / gain,
// clipped to [0, original_width] x [0, original_height]. In place.
void scale_box_to_original(float* box, const LetterboxMapping& mapping);
void scale_to_original(std::span<Detection> detections, const LetterboxMapping& mapping);

// A label as the dataset stores it (cx, cy, w, h normalised to the input image)
// -> xyxy original pixels (the validator's _prepare_batch).
GroundTruth label_to_original(int cls, const float* xywh_normalised, int input_width, int input_height,
                              const LetterboxMapping& mapping);

// torch.linspace(0.5, 0.95, 10) in float32, the reference's iouv.
std::array<float, kNumIouThresholds> iou_thresholds();

// box_iou(labels, detections): (labels.size(), detections.size()) row-major, float32.
std::vector<float> box_iou_matrix(std::span<const GroundTruth> labels, std::span<const Detection> detections);

// The true-positive hits of each detection of one image (see the header comment).
std::vector<ThresholdHits> match_predictions(std::span<const Detection> detections,
                                             std::span<const GroundTruth> labels);

struct ClassMetrics {
  int cls = 0;
  double precision = 0, recall = 0, ap50 = 0, ap50_95 = 0;
  std::array<double, kNumIouThresholds> ap{};  // AP at 0.50, 0.55, ..., 0.95
};

struct MetricsResult {
  double precision = 0, recall = 0, map50 = 0, map50_95 = 0, fitness = 0;  // "all"
  std::vector<ClassMetrics> per_class;            // classes with labels, ascending (empty: no TP at all)
  std::int64_t images = 0;                        // images seen
  std::vector<std::int64_t> instances_per_class;  // (nc) labels per class
  std::vector<std::int64_t> images_per_class;     // (nc) images holding the class
  std::int64_t instances() const;
};

class DetectionMetrics {
 public:
  explicit DetectionMetrics(int nc);

  // One image: its detections (NMS order) and labels, both xyxy in original pixels.
  // Throws std::invalid_argument for a class outside [0, nc).
  void add_image(std::span<const Detection> detections, std::span<const GroundTruth> labels);
  // Appends another accumulator's images (distributed validation gathers them in rank order).
  void merge(const DetectionMetrics& other);
  MetricsResult compute() const;
  // The accumulated state as bytes and back, for gathering across ranks.
  std::vector<unsigned char> pack() const;
  static DetectionMetrics unpack(std::span<const unsigned char> bytes);

  int nc() const { return nc_; }
  std::int64_t images() const { return images_; }

 private:
  int nc_;
  std::int64_t images_ = 0;
  std::vector<ThresholdHits> tp_;        // (detections) over the dataset
  std::vector<float> conf_;              // (detections)
  std::vector<int> pred_cls_;            // (detections)
  std::vector<int> target_cls_;          // (labels)
  std::vector<std::int64_t> images_per_class_;  // (nc)
};

// The reference's validation table: header "Class Images Instances Box(P R mAP50
// mAP50-95)" ("%22s" + "%11s" * 6), the "all" row (images seen, all labels, means),
// then, when per_class, one row per class of result.per_class (name, images with
// the class, its labels, P, R, AP50, AP50-95) in "%22s%11i%11i%11.3g%11.3g%11.3g%11.3g".
// names[c] names class c ("class<c>" when names is shorter). Lines end in '\n'.
std::string format_class_table(const MetricsResult& result, std::span<const std::string> names, bool per_class = true);

}  // namespace shrike::train
