// pipeline/train/detection_metrics.cpp
//
// Per-image matching, dataset accumulation, letterbox mapping and the console table
// of the detection metrics (see detection_metrics.h; the curve arithmetic is in
// average_precision.cpp).
#include "pipeline/train/detection_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>
#include <stdexcept>

#include "kernels/box_iou.h"
#include "pipeline/core/byte_packing.h"

namespace shrike::train {
namespace {

void check_class(int cls, int nc, const char* what) {
  if (cls < 0 || cls >= nc)
    throw std::invalid_argument(std::string("DetectionMetrics: ") + what + " class " + std::to_string(cls) +
                                " is outside [0, " + std::to_string(nc) + ")");
}

// The detection each label goes to at one threshold (see the header comment):
// best label per detection (IoU >= threshold, ties to the higher label index),
// then labels handed out in detection-index order.
std::vector<int> matched_detections(std::span<const float> iou, int num_labels, int num_detections, float threshold) {
  std::vector<int> best_label(static_cast<std::size_t>(num_detections), -1);
  for (int d = 0; d < num_detections; ++d) {
    float best = 0;
    for (int l = 0; l < num_labels; ++l) {
      const float v = iou[static_cast<std::size_t>(l) * num_detections + d];
      if (v >= threshold && (best_label[d] < 0 || v >= best)) best_label[d] = l, best = v;
    }
  }
  std::vector<unsigned char> taken(static_cast<std::size_t>(num_labels), 0);
  std::vector<int> matched;
  for (int d = 0; d < num_detections; ++d) {
    const int l = best_label[d];
    if (l < 0 || taken[l]) continue;
    taken[l] = 1;
    matched.push_back(d);
  }
  return matched;
}

// "%11.3g"-style cell.
std::string format_cell(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

std::string format_row(const std::string& name, std::int64_t images, std::int64_t instances, double p, double r,
                       double ap50, double ap) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, "%22s%11lld%11lld", name.c_str(), static_cast<long long>(images),
                static_cast<long long>(instances));
  std::string row = buffer;
  for (double v : {p, r, ap50, ap}) row += format_cell("%11.3g", v);
  return row + "\n";
}

}  // namespace

LetterboxMapping letterbox_mapping_for(int input_width, int input_height, int original_width, int original_height) {
  const double gain = std::min(static_cast<double>(input_height) / original_height,
                               static_cast<double>(input_width) / original_width);
  LetterboxMapping m;
  m.gain = static_cast<float>(gain);
  // Python's round (half to even) is nearbyint in the default rounding mode.
  m.pad_x = static_cast<float>(std::nearbyint((input_width - original_width * gain) / 2 - 0.1));
  m.pad_y = static_cast<float>(std::nearbyint((input_height - original_height * gain) / 2 - 0.1));
  m.original_width = original_width, m.original_height = original_height;
  return m;
}

void scale_box_to_original(float* box, const LetterboxMapping& mapping) {
  const float w = static_cast<float>(mapping.original_width), h = static_cast<float>(mapping.original_height);
  box[0] = std::clamp((box[0] - mapping.pad_x) / mapping.gain, 0.0f, w);
  box[1] = std::clamp((box[1] - mapping.pad_y) / mapping.gain, 0.0f, h);
  box[2] = std::clamp((box[2] - mapping.pad_x) / mapping.gain, 0.0f, w);
  box[3] = std::clamp((box[3] - mapping.pad_y) / mapping.gain, 0.0f, h);
}

void scale_to_original(std::span<Detection> detections, const LetterboxMapping& mapping) {
  for (Detection& d : detections) {
    float box[4] = {d.x1, d.y1, d.x2, d.y2};
    scale_box_to_original(box, mapping);
    d.x1 = box[0], d.y1 = box[1], d.x2 = box[2], d.y2 = box[3];
  }
}

GroundTruth label_to_original(int cls, const float* xywh_normalised, int input_width, int input_height,
                              const LetterboxMapping& mapping) {
  float box[4];
  kernels::xywh_to_xyxy(box, xywh_normalised);
  const float size[4] = {static_cast<float>(input_width), static_cast<float>(input_height),
                         static_cast<float>(input_width), static_cast<float>(input_height)};
  for (int k = 0; k < 4; ++k) box[k] *= size[k];
  scale_box_to_original(box, mapping);
  return {box[0], box[1], box[2], box[3], cls};
}

std::array<float, kNumIouThresholds> iou_thresholds() {
  // torch.linspace's CPU kernel in float32: start + step*i for the first half,
  // end - step*(steps-1-i) for the second.
  const float start = 0.5f, end = 0.95f, step = (end - start) / static_cast<float>(kNumIouThresholds - 1);
  std::array<float, kNumIouThresholds> out{};
  for (int i = 0; i < kNumIouThresholds; ++i)
    out[static_cast<std::size_t>(i)] = i < kNumIouThresholds / 2
                                           ? start + step * static_cast<float>(i)
                                           : end - step * static_cast<float>(kNumIouThresholds - 1 - i);
  return out;
}

std::vector<float> box_iou_matrix(std::span<const GroundTruth> labels, std::span<const Detection> detections) {
  const std::size_t num_detections = detections.size();
  std::vector<float> iou(labels.size() * num_detections);
  for (std::size_t l = 0; l < labels.size(); ++l) {
    const GroundTruth& a = labels[l];
    const float area_a = (a.x2 - a.x1) * (a.y2 - a.y1);
    for (std::size_t d = 0; d < num_detections; ++d) {
      const Detection& b = detections[d];
      const float inter = std::max(std::min(a.x2, b.x2) - std::max(a.x1, b.x1), 0.0f) *
                          std::max(std::min(a.y2, b.y2) - std::max(a.y1, b.y1), 0.0f);
      const float area_b = (b.x2 - b.x1) * (b.y2 - b.y1);
      iou[l * num_detections + d] = inter / (area_a + area_b - inter + 1e-7f);
    }
  }
  return iou;
}

std::vector<ThresholdHits> match_predictions(std::span<const Detection> detections,
                                             std::span<const GroundTruth> labels) {
  const int num_detections = static_cast<int>(detections.size()), num_labels = static_cast<int>(labels.size());
  std::vector<ThresholdHits> hits(detections.size());
  if (num_detections == 0 || num_labels == 0) return hits;
  std::vector<float> iou = box_iou_matrix(labels, detections);
  for (int l = 0; l < num_labels; ++l)
    for (int d = 0; d < num_detections; ++d)
      if (labels[l].cls != detections[d].cls) iou[static_cast<std::size_t>(l) * num_detections + d] = 0.0f;
  const auto thresholds = iou_thresholds();
  for (int t = 0; t < kNumIouThresholds; ++t)
    for (int d : matched_detections(iou, num_labels, num_detections, thresholds[static_cast<std::size_t>(t)]))
      hits[static_cast<std::size_t>(d)].set(static_cast<std::size_t>(t));
  return hits;
}

std::int64_t MetricsResult::instances() const {
  return std::accumulate(instances_per_class.begin(), instances_per_class.end(), std::int64_t{0});
}

DetectionMetrics::DetectionMetrics(int nc) : nc_(nc), images_per_class_(static_cast<std::size_t>(std::max(nc, 0)), 0) {
  if (nc < 1) throw std::invalid_argument("DetectionMetrics: nc must be >= 1, got " + std::to_string(nc));
}

void DetectionMetrics::add_image(std::span<const Detection> detections, std::span<const GroundTruth> labels) {
  for (const Detection& d : detections) check_class(d.cls, nc_, "detection");
  std::set<int> classes_here;
  for (const GroundTruth& g : labels) {
    check_class(g.cls, nc_, "label");
    classes_here.insert(g.cls);
    target_cls_.push_back(g.cls);
  }
  for (int c : classes_here) ++images_per_class_[static_cast<std::size_t>(c)];
  ++images_;
  const std::vector<ThresholdHits> hits = match_predictions(detections, labels);
  tp_.insert(tp_.end(), hits.begin(), hits.end());
  for (const Detection& d : detections) {
    conf_.push_back(d.score);
    pred_cls_.push_back(d.cls);
  }
}

void DetectionMetrics::merge(const DetectionMetrics& other) {
  if (other.nc_ != nc_)
    throw std::invalid_argument("DetectionMetrics::merge: nc " + std::to_string(other.nc_) + " != " + std::to_string(nc_));
  images_ += other.images_;
  tp_.insert(tp_.end(), other.tp_.begin(), other.tp_.end());
  conf_.insert(conf_.end(), other.conf_.begin(), other.conf_.end());
  pred_cls_.insert(pred_cls_.end(), other.pred_cls_.begin(), other.pred_cls_.end());
  target_cls_.insert(target_cls_.end(), other.target_cls_.begin(), other.target_cls_.end());
  for (int c = 0; c < nc_; ++c) images_per_class_[c] += other.images_per_class_[c];
}

std::vector<unsigned char> DetectionMetrics::pack() const {
  BytePacker packer;
  packer.put<std::int32_t>(nc_);
  packer.put<std::int64_t>(images_);
  std::vector<std::uint16_t> hits(tp_.size());
  for (std::size_t i = 0; i < tp_.size(); ++i) hits[i] = static_cast<std::uint16_t>(tp_[i].to_ulong());
  packer.put_vector(hits);
  packer.put_vector(conf_);
  packer.put_vector(pred_cls_);
  packer.put_vector(target_cls_);
  packer.put_vector(images_per_class_);
  return std::move(packer.bytes());
}

DetectionMetrics DetectionMetrics::unpack(std::span<const unsigned char> bytes) {
  ByteUnpacker unpacker(bytes);
  DetectionMetrics metrics(unpacker.get<std::int32_t>());
  metrics.images_ = unpacker.get<std::int64_t>();
  for (std::uint16_t hits : unpacker.get_vector<std::uint16_t>()) metrics.tp_.emplace_back(hits);
  metrics.conf_ = unpacker.get_vector<float>();
  metrics.pred_cls_ = unpacker.get_vector<int>();
  metrics.target_cls_ = unpacker.get_vector<int>();
  metrics.images_per_class_ = unpacker.get_vector<std::int64_t>();
  if (metrics.images_per_class_.size() != static_cast<std::size_t>(metrics.nc_) || metrics.conf_.size() != metrics.tp_.size() ||
      metrics.pred_cls_.size() != metrics.tp_.size() || !unpacker.done()) {
    throw std::runtime_error("DetectionMetrics::unpack: inconsistent buffer");
  }
  return metrics;
}

MetricsResult DetectionMetrics::compute() const {
  MetricsResult result;
  result.images = images_;
  result.images_per_class = images_per_class_;
  result.instances_per_class.assign(static_cast<std::size_t>(nc_), 0);
  for (int c : target_cls_) ++result.instances_per_class[static_cast<std::size_t>(c)];
  const bool any_tp = std::any_of(tp_.begin(), tp_.end(), [](const ThresholdHits& h) { return h.any(); });
  if (!any_tp) return result;  // the reference skips metrics.process: all zeros

  const ApPerClass curves = ap_per_class(tp_, conf_, pred_cls_, target_cls_);
  const std::size_t k = curves.classes.size();
  double sum_p = 0, sum_r = 0, sum_ap50 = 0, sum_ap = 0;
  for (std::size_t i = 0; i < k; ++i) {
    ClassMetrics row;
    row.cls = curves.classes[i];
    row.precision = curves.precision[i], row.recall = curves.recall[i];
    std::copy(curves.ap[i].begin(), curves.ap[i].end(), row.ap.begin());
    row.ap50 = row.ap[0];
    row.ap50_95 = std::accumulate(row.ap.begin(), row.ap.end(), 0.0) / kNumIouThresholds;
    sum_p += row.precision, sum_r += row.recall, sum_ap50 += row.ap50;
    sum_ap = std::accumulate(row.ap.begin(), row.ap.end(), sum_ap);
    result.per_class.push_back(row);
  }
  const double n = static_cast<double>(k);
  result.precision = sum_p / n, result.recall = sum_r / n;
  result.map50 = sum_ap50 / n, result.map50_95 = sum_ap / (n * kNumIouThresholds);
  result.fitness = 0.0 * result.precision + 0.0 * result.recall + 0.1 * result.map50 + 0.9 * result.map50_95;
  return result;
}

std::string format_class_table(const MetricsResult& result, std::span<const std::string> names, bool per_class) {
  char header[256];
  std::snprintf(header, sizeof header, "%22s%11s%11s%11s%11s%11s%11s\n", "Class", "Images", "Instances", "Box(P", "R",
                "mAP50", "mAP50-95)");
  std::string table = header;
  table += format_row("all", result.images, result.instances(), result.precision, result.recall, result.map50,
                      result.map50_95);
  if (!per_class) return table;
  for (const ClassMetrics& row : result.per_class) {
    const std::size_t c = static_cast<std::size_t>(row.cls);
    const std::string name = c < names.size() ? names[c] : "class" + std::to_string(c);
    const std::int64_t images = c < result.images_per_class.size() ? result.images_per_class[c] : 0;
    const std::int64_t instances = c < result.instances_per_class.size() ? result.instances_per_class[c] : 0;
    table += format_row(name, images, instances, row.precision, row.recall, row.ap50, row.ap50_95);
  }
  return table;
}

}  // namespace shrike::train
