// pipeline/train/average_precision.cpp
//
// ap_per_class and its helpers (see average_precision.h for the numpy behaviour
// reproduced and the one deliberate difference).
#include "pipeline/train/average_precision.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>

namespace shrike::train {
namespace {

constexpr double kEps = 1e-16;
constexpr int kCurvePoints = 1000;
constexpr int kApPoints = 101;

// Detections of one class, in decreasing confidence order: negated confidences
// (increasing, the interp abscissae) and cumulative TP / FP counts per threshold.
struct ClassCurves {
  std::vector<double> neg_conf;                                  // (n)
  std::vector<std::vector<double>> recall, precision;            // (10, n)
};

ClassCurves class_curves(std::span<const ThresholdHits> tp, std::span<const float> conf,
                         std::span<const std::size_t> order_of_class, double n_labels) {
  const std::size_t n = order_of_class.size();
  ClassCurves out;
  out.neg_conf.resize(n);
  out.recall.assign(kNumIouThresholds, std::vector<double>(n));
  out.precision.assign(kNumIouThresholds, std::vector<double>(n));
  for (int t = 0; t < kNumIouThresholds; ++t) {
    std::int64_t tpc = 0, fpc = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t d = order_of_class[k];
      if (tp[d][static_cast<std::size_t>(t)]) ++tpc; else ++fpc;
      out.recall[t][k] = static_cast<double>(tpc) / (n_labels + kEps);
      out.precision[t][k] = static_cast<double>(tpc) / static_cast<double>(tpc + fpc);
    }
  }
  for (std::size_t k = 0; k < n; ++k) out.neg_conf[k] = -static_cast<double>(conf[order_of_class[k]]);
  return out;
}

// Index of the first maximum.
std::size_t first_argmax(std::span<const double> v) {
  return static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

double numpy_interp(double x, std::span<const double> xp, std::span<const double> fp, double left, double right) {
  if (xp.empty() || xp.size() != fp.size()) throw std::invalid_argument("numpy_interp: xp and fp must be same-size, non-empty");
  const std::size_t n = xp.size();
  if (std::isnan(x)) return x;
  if (x > xp[n - 1]) return right;
  if (x < xp[0]) return left;
  const std::size_t j = static_cast<std::size_t>(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
  if (j == n - 1 || xp[j] == x) return fp[j];
  const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
  double y = slope * (x - xp[j]) + fp[j];
  if (std::isnan(y)) {
    y = slope * (x - xp[j + 1]) + fp[j + 1];
    if (std::isnan(y) && fp[j] == fp[j + 1]) y = fp[j];
  }
  return y;
}

std::vector<double> numpy_linspace(double start, double stop, int count) {
  std::vector<double> out(static_cast<std::size_t>(count));
  const double step = (stop - start) / static_cast<double>(count - 1);
  for (int i = 0; i < count; ++i) out[static_cast<std::size_t>(i)] = static_cast<double>(i) * step + start;
  out.back() = stop;
  return out;
}

std::vector<double> smooth_box_filter(std::span<const double> y, double fraction) {
  const int taps = static_cast<int>(std::nearbyint(static_cast<double>(y.size()) * fraction * 2)) / 2 + 1;
  const int pad = taps / 2;
  std::vector<double> padded;
  padded.reserve(y.size() + 2 * static_cast<std::size_t>(pad));
  padded.insert(padded.end(), static_cast<std::size_t>(pad), y.front());
  padded.insert(padded.end(), y.begin(), y.end());
  padded.insert(padded.end(), static_cast<std::size_t>(pad), y.back());
  const double tap = 1.0 / taps;
  std::vector<double> out(padded.size() - static_cast<std::size_t>(taps) + 1);
  for (std::size_t k = 0; k < out.size(); ++k) {
    double sum = 0;
    for (int m = 0; m < taps; ++m) sum += padded[k + static_cast<std::size_t>(m)] * tap;
    out[k] = sum;
  }
  return out;
}

double compute_ap(std::span<const double> recall, std::span<const double> precision) {
  std::vector<double> mrec{0.0}, mpre{1.0};
  mrec.insert(mrec.end(), recall.begin(), recall.end());
  mpre.insert(mpre.end(), precision.begin(), precision.end());
  mrec.push_back(1.0);
  mpre.push_back(0.0);
  for (std::size_t i = mpre.size() - 1; i-- > 0;) mpre[i] = std::max(mpre[i], mpre[i + 1]);  // envelope
  const std::vector<double> x = numpy_linspace(0.0, 1.0, kApPoints);
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = numpy_interp(x[i], mrec, mpre, mpre.front(), mpre.back());
  double ap = 0;
  for (std::size_t i = 0; i + 1 < x.size(); ++i) ap += (x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2.0;
  return ap;
}

ApPerClass ap_per_class(std::span<const ThresholdHits> tp, std::span<const float> conf,
                        std::span<const int> pred_cls, std::span<const int> target_cls) {
  // Detections by decreasing confidence (stable), labels counted per class.
  std::vector<std::size_t> order(conf.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return conf[a] > conf[b]; });
  std::map<int, std::int64_t> labels_per_class;
  for (int c : target_cls) ++labels_per_class[c];

  ApPerClass out;
  const std::size_t k = labels_per_class.size();
  const std::vector<double> grid = numpy_linspace(0.0, 1.0, kCurvePoints);
  std::vector<std::vector<double>> p_curve(k, std::vector<double>(kCurvePoints, 0.0)), r_curve = p_curve;
  out.ap.assign(k, std::vector<double>(kNumIouThresholds, 0.0));
  std::size_t ci = 0;
  for (const auto& [cls, n_labels] : labels_per_class) {
    out.classes.push_back(cls);
    std::vector<std::size_t> of_class;
    for (std::size_t d : order)
      if (pred_cls[d] == cls) of_class.push_back(d);
    if (!of_class.empty()) {
      const ClassCurves curves = class_curves(tp, conf, of_class, static_cast<double>(n_labels));
      for (int g = 0; g < kCurvePoints; ++g) {
        const double neg_x = -grid[static_cast<std::size_t>(g)];
        r_curve[ci][g] = numpy_interp(neg_x, curves.neg_conf, curves.recall[0], 0.0, curves.recall[0].back());
        p_curve[ci][g] = numpy_interp(neg_x, curves.neg_conf, curves.precision[0], 1.0, curves.precision[0].back());
      }
      for (int t = 0; t < kNumIouThresholds; ++t) out.ap[ci][t] = compute_ap(curves.recall[t], curves.precision[t]);
    }
    ++ci;
  }
  // Mean F1 over classes with labels, smoothed; P and R of every class at its first maximum.
  std::vector<double> mean_f1(kCurvePoints, 0.0);
  for (std::size_t c = 0; c < k; ++c)
    for (int g = 0; g < kCurvePoints; ++g)
      mean_f1[g] += 2 * p_curve[c][g] * r_curve[c][g] / (p_curve[c][g] + r_curve[c][g] + kEps);
  for (double& v : mean_f1) v /= static_cast<double>(std::max<std::size_t>(k, 1));
  out.best_f1_index = k == 0 ? 0 : static_cast<int>(first_argmax(smooth_box_filter(mean_f1, 0.1)));
  for (std::size_t c = 0; c < k; ++c) {
    out.precision.push_back(p_curve[c][static_cast<std::size_t>(out.best_f1_index)]);
    out.recall.push_back(r_curve[c][static_cast<std::size_t>(out.best_f1_index)]);
  }
  return out;
}

}  // namespace shrike::train
