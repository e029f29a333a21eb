// pipeline/train/average_precision.h
//
// The curve arithmetic of the reference's detection metrics (Ultralytics 8.3
// ultralytics/utils/metrics.py ap_per_class, compute_ap, smooth; spec § 5), kept
// apart from the per-image matching (detection_metrics.h) so each can be tested
// alone. Everything is double, as numpy computes it; confidences stay float32
// values (the reference's torch tensors), widened where numpy widens them.
//
// numpy behaviour reproduced where it decides a number:
//   - np.interp: for x in [xp[0], xp[n-1]] take j = the LAST index with xp[j] <= x;
//     x == xp[j] (or j == n-1) gives fp[j], else the slope formula
//     (fp[j+1] - fp[j]) / (xp[j+1] - xp[j]) * (x - xp[j]) + fp[j];
//   - np.linspace(a, b, n): a + i * ((b - a) / (n - 1)), the last point exactly b;
//   - np.trapz: sum of dx_i * (y_i + y_{i+1}) / 2;
//   - smooth(y, f): odd box filter of round(len * f * 2) // 2 + 1 taps (Python's
//     round: half to even), edges padded with the end values, taps 1/nf each;
//   - argmax: the first maximum.
// One deliberate difference: detections are sorted by confidence with a STABLE sort
// (ties keep accumulation order); numpy's argsort(-conf) is an unstable quicksort,
// so with tied confidences the reference's own order is unspecified.
#pragma once

#include <bitset>
#include <cstdint>
#include <span>
#include <vector>

namespace shrike::train {

constexpr int kNumIouThresholds = 10;  // 0.50, 0.55, ..., 0.95
using ThresholdHits = std::bitset<kNumIouThresholds>;  // bit t: true positive at threshold t

// numpy.interp(x, xp, fp, left, right) for one x; xp non-decreasing, not empty.
double numpy_interp(double x, std::span<const double> xp, std::span<const double> fp, double left, double right);

// numpy.linspace(start, stop, count), count >= 2.
std::vector<double> numpy_linspace(double start, double stop, int count);

// The reference's smooth(y, f): box filter of fraction f; same length as y.
std::vector<double> smooth_box_filter(std::span<const double> y, double fraction);

// compute_ap: AP of one precision-recall curve (recall, precision: (n) in decreasing
// confidence order): sentinels (0, 1) and (1, 0), precision envelope, 101-point
// interpolation on linspace(0, 1, 101), trapezoid integration.
double compute_ap(std::span<const double> recall, std::span<const double> precision);

// What ap_per_class returns that the validator reports: one row per class that has
// ground truth (ascending class index).
struct ApPerClass {
  std::vector<int> classes;                          // (k) classes with labels
  std::vector<double> precision, recall;             // (k) at the max mean-F1 confidence
  std::vector<std::vector<double>> ap;               // (k, 10) AP per IoU threshold
  int best_f1_index = 0;                             // index into the 1000-point confidence grid
};

// tp: (n) hits per detection; conf: (n) scores; pred_cls: (n); target_cls: (m) the class
// of every label of the dataset.
ApPerClass ap_per_class(std::span<const ThresholdHits> tp, std::span<const float> conf,
                        std::span<const int> pred_cls, std::span<const int> target_cls);

}  // namespace shrike::train
