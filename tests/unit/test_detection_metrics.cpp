// tests/unit/test_detection_metrics.cpp: the validation path after the network:
// the Detect inference decode (kernels/detect_decode.h), the validation NMS
// (kernels/nms.h) and the detection metrics (pipeline/train/detection_metrics.h,
// average_precision.h), checked two ways:
//   - hand-computed cases (the 101-point trapezoid's exact values, an FP ranked above
//     a TP, a match at IoU 0.62, class confusion, images without labels, the
//     label-to-detection matching order, NMS suppression, class offset, max_det);
//   - against tests/reference/fixtures/metrics_cases.h5, written by the independent
//     numpy / torch implementation tests/reference/metrics_reference.py.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/detect_decode.h"
#include "kernels/nms.h"
#include "pipeline/data/hdf5_check.h"
#include "pipeline/train/average_precision.h"
#include "pipeline/train/detection_metrics.h"

namespace shrike::train {
namespace {

// --- fixture reading ---

const std::string& fixture_path() {
  static const std::string path = std::string(SHRIKE_SOURCE_DIR) + "/tests/reference/fixtures/metrics_cases.h5";
  return path;
}

data::H5Handle open_fixture() {
  data::silence_hdf5_error_printing();
  return data::H5Handle(H5_CHECK(H5Fopen(fixture_path().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), fixture_path()));
}

template <typename T>
std::vector<T> read_array(hid_t parent, const std::string& name, hid_t memory_type) {
  std::size_t count = 1;
  for (hsize_t d : data::dataset_dims(parent, name.c_str(), fixture_path())) count *= static_cast<std::size_t>(d);
  std::vector<T> out(count);
  if (count > 0) data::read_dataset(parent, name.c_str(), memory_type, out.data(), fixture_path());
  return out;
}
std::vector<float> read_floats(hid_t parent, const std::string& name) { return read_array<float>(parent, name, H5T_NATIVE_FLOAT); }
std::vector<double> read_doubles(hid_t parent, const std::string& name) { return read_array<double>(parent, name, H5T_NATIVE_DOUBLE); }
std::vector<int> read_ints(hid_t parent, const std::string& name) { return read_array<int>(parent, name, H5T_NATIVE_INT); }

double read_double_attribute(hid_t object, const char* name) {
  const std::string where = fixture_path() + " attribute " + name;
  data::H5Handle attribute(H5_CHECK(H5Aopen(object, name, H5P_DEFAULT), where));
  double value = 0;
  H5_CHECK(H5Aread(attribute, H5T_NATIVE_DOUBLE, &value), where);
  return value;
}

// --- hand-built images ---

Detection det(float x1, float y1, float x2, float y2, float score, int cls) { return {x1, y1, x2, y2, score, cls}; }
GroundTruth gt(float x1, float y1, float x2, float y2, int cls) { return {x1, y1, x2, y2, cls}; }

// AP of a perfect detector: every point 1 except recall 1.0, where np.interp takes the
// last duplicate (the sentinel precision 0): 0.99 + (1 + 0) / 2 * 0.01.
constexpr double kPerfectAp = 0.995;
// One FP ranked above the only TP: precision envelope 0.5 on [0, 1), 0 at 1.
constexpr double kFpFirstAp = 0.5 * 0.99 + 0.25 * 0.01;

TEST(AveragePrecision, TrapezoidValuesByHand) {
  const std::vector<double> r1{0.5, 1.0}, p1{1.0, 1.0};
  EXPECT_NEAR(compute_ap(r1, p1), kPerfectAp, 1e-12);
  const std::vector<double> r2{0.0, 1.0}, p2{0.0, 0.5};
  EXPECT_NEAR(compute_ap(r2, p2), kFpFirstAp, 1e-12);
  // TP, FP, TP over two labels: envelope 1 on [0, 0.5), 2/3 on [0.5, 1), 0 at 1.
  const std::vector<double> r3{0.5, 0.5, 1.0}, p3{1.0, 0.5, 2.0 / 3.0};
  const double expected = 0.49 + (1.0 + 2.0 / 3.0) / 2 * 0.01 + 49 * 0.01 * 2.0 / 3.0 + (2.0 / 3.0) / 2 * 0.01;
  EXPECT_NEAR(compute_ap(r3, p3), expected, 1e-12);
}

TEST(AveragePrecision, NumpyInterpAndSmooth) {
  const std::vector<double> xp{0.0, 0.5, 0.5, 1.0}, fp{1.0, 0.8, 0.6, 0.0};
  EXPECT_DOUBLE_EQ(numpy_interp(0.5, xp, fp, -1, -2), 0.6);  // the last duplicate
  EXPECT_DOUBLE_EQ(numpy_interp(0.25, xp, fp, -1, -2), 0.9);
  EXPECT_DOUBLE_EQ(numpy_interp(-0.1, xp, fp, -1, -2), -1);
  EXPECT_DOUBLE_EQ(numpy_interp(1.1, xp, fp, -1, -2), -2);
  std::vector<double> y(1000, 0.0);
  y[500] = 101.0;
  const std::vector<double> s = smooth_box_filter(y, 0.1);  // 101 taps
  ASSERT_EQ(s.size(), 1000u);
  EXPECT_NEAR(s[450], 1.0, 1e-12);
  EXPECT_NEAR(s[550], 1.0, 1e-12);
  EXPECT_EQ(s[449], 0.0);
  EXPECT_EQ(s[551], 0.0);
}

TEST(DetectionMetrics, PerfectDetector) {
  DetectionMetrics metrics(3);
  const std::vector<GroundTruth> labels_a{gt(10, 10, 50, 60, 0), gt(100, 100, 180, 150, 1)};
  const std::vector<Detection> dets_a{det(10, 10, 50, 60, 0.9f, 0), det(100, 100, 180, 150, 0.8f, 1)};
  const std::vector<GroundTruth> labels_b{gt(5, 5, 25, 45, 0)};
  const std::vector<Detection> dets_b{det(5, 5, 25, 45, 0.7f, 0)};
  metrics.add_image(dets_a, labels_a);
  metrics.add_image(dets_b, labels_b);
  const MetricsResult r = metrics.compute();
  ASSERT_EQ(r.per_class.size(), 2u);  // class 2 has no labels: no row
  for (const ClassMetrics& c : r.per_class) {
    for (double ap : c.ap) EXPECT_NEAR(ap, kPerfectAp, 1e-12);
    EXPECT_DOUBLE_EQ(c.precision, 1.0);
    EXPECT_DOUBLE_EQ(c.recall, 1.0);
  }
  EXPECT_NEAR(r.map50, kPerfectAp, 1e-12);
  EXPECT_NEAR(r.map50_95, kPerfectAp, 1e-12);
  EXPECT_NEAR(r.fitness, kPerfectAp, 1e-12);
  EXPECT_EQ(r.images, 2);
  EXPECT_EQ(r.instances(), 3);
  EXPECT_EQ(r.images_per_class, (std::vector<std::int64_t>{2, 1, 0}));
}

TEST(DetectionMetrics, FalsePositiveRankedAboveTruePositive) {
  DetectionMetrics metrics(1);
  const std::vector<GroundTruth> labels{gt(0, 0, 100, 100, 0)};
  const std::vector<Detection> dets{det(300, 300, 400, 400, 0.9f, 0), det(0, 0, 100, 100, 0.8f, 0)};
  metrics.add_image(dets, labels);
  const MetricsResult r = metrics.compute();
  ASSERT_EQ(r.per_class.size(), 1u);
  EXPECT_NEAR(r.per_class[0].ap50, kFpFirstAp, 1e-12);
  EXPECT_NEAR(r.map50_95, kFpFirstAp, 1e-12);
}

TEST(DetectionMetrics, MatchAtIou062CountsUpToThreshold060) {
  // IoU = 62 / 100 exactly in real arithmetic: hits 0.50, 0.55, 0.60 (float32 0.6000000238).
  const std::vector<GroundTruth> labels{gt(0, 0, 100, 100, 0)};
  const std::vector<Detection> dets{det(0, 0, 100, 62, 0.9f, 0)};
  const std::vector<ThresholdHits> hits = match_predictions(dets, labels);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].to_string(), "0000000111");  // bit 0 (0.50) rightmost
  DetectionMetrics metrics(1);
  metrics.add_image(dets, labels);
  const MetricsResult r = metrics.compute();
  EXPECT_NEAR(r.map50, kPerfectAp, 1e-12);
  EXPECT_NEAR(r.map50_95, kPerfectAp * 3 / 10, 1e-12);
  EXPECT_NEAR(r.per_class[0].ap[2], kPerfectAp, 1e-12);
  EXPECT_EQ(r.per_class[0].ap[3], 0.0);
}

TEST(DetectionMetrics, ClassConfusion) {
  // Label A is class 0, label B class 1; both detections say class 1. Class 0: a label,
  // no predictions (AP 0). Class 1: the detection on A (score 0.9) is an FP ranked
  // above the TP on B.
  DetectionMetrics metrics(2);
  const std::vector<GroundTruth> labels{gt(0, 0, 100, 100, 0), gt(200, 200, 300, 300, 1)};
  const std::vector<Detection> dets{det(0, 0, 100, 100, 0.9f, 1), det(200, 200, 300, 300, 0.8f, 1)};
  metrics.add_image(dets, labels);
  const MetricsResult r = metrics.compute();
  ASSERT_EQ(r.per_class.size(), 2u);
  EXPECT_EQ(r.per_class[0].ap50, 0.0);
  EXPECT_EQ(r.per_class[0].recall, 0.0);
  EXPECT_NEAR(r.per_class[1].ap50, kFpFirstAp, 1e-12);
  EXPECT_NEAR(r.map50, kFpFirstAp / 2, 1e-12);
}

TEST(DetectionMetrics, ImageWithoutLabelsAddsFalsePositives) {
  DetectionMetrics metrics(1);
  const std::vector<GroundTruth> labels{gt(0, 0, 100, 100, 0)};
  const std::vector<Detection> dets{det(0, 0, 100, 100, 0.8f, 0)};
  metrics.add_image(dets, labels);
  const std::vector<Detection> background{det(10, 10, 60, 60, 0.95f, 0)};
  metrics.add_image(background, {});
  metrics.add_image({}, {});  // empty image: counted as seen, nothing else
  const MetricsResult r = metrics.compute();
  EXPECT_EQ(r.images, 3);
  EXPECT_EQ(r.instances(), 1);
  EXPECT_EQ(r.images_per_class[0], 1);
  EXPECT_NEAR(r.map50, kFpFirstAp, 1e-12);
}

TEST(DetectionMetrics, NoTruePositiveGivesZerosAndNoClassRows) {
  DetectionMetrics metrics(2);
  const std::vector<GroundTruth> labels{gt(0, 0, 100, 100, 0)};
  const std::vector<Detection> dets{det(500, 500, 600, 600, 0.9f, 0)};
  metrics.add_image(dets, labels);
  const MetricsResult r = metrics.compute();
  EXPECT_TRUE(r.per_class.empty());
  EXPECT_EQ(r.map50, 0.0);
  EXPECT_EQ(r.precision, 0.0);
  EXPECT_EQ(r.fitness, 0.0);
  EXPECT_EQ(r.instances(), 1);
}

TEST(DetectionMetrics, LabelGoesToLowestIndexDetectionAmongThoseWhoseBestItIs) {
  // det 0 (higher score) IoU 0.72, det 1 IoU 0.92 with the same label: up to 0.70 the
  // label goes to det 0 (first in index order, not best IoU); above, only det 1 matches.
  const std::vector<GroundTruth> labels{gt(0, 0, 100, 100, 0)};
  const std::vector<Detection> dets{det(0, 0, 100, 72, 0.9f, 0), det(0, 0, 100, 92, 0.8f, 0)};
  const std::vector<ThresholdHits> hits = match_predictions(dets, labels);
  EXPECT_EQ(hits[0].to_string(), "0000011111");  // 0.50 .. 0.70
  EXPECT_EQ(hits[1].to_string(), "0111100000");  // 0.75 .. 0.90
}

TEST(DetectionMetrics, MergeEqualsOneAccumulator) {
  const std::vector<GroundTruth> la{gt(0, 0, 100, 100, 0)}, lb{gt(10, 10, 50, 50, 1)};
  const std::vector<Detection> da{det(2, 0, 100, 96, 0.6f, 0)}, db{det(10, 12, 50, 50, 0.7f, 1), det(0, 0, 5, 5, 0.8f, 1)};
  DetectionMetrics whole(2), first(2), second(2);
  whole.add_image(da, la);
  whole.add_image(db, lb);
  first.add_image(da, la);
  second.add_image(db, lb);
  first.merge(second);
  const MetricsResult a = whole.compute(), b = first.compute();
  EXPECT_EQ(a.map50_95, b.map50_95);
  EXPECT_EQ(a.precision, b.precision);
  EXPECT_EQ(a.images, b.images);
}

TEST(DetectionMetrics, RejectsClassOutOfRange) {
  DetectionMetrics metrics(2);
  const std::vector<GroundTruth> labels{gt(0, 0, 1, 1, 2)};
  EXPECT_THROW(metrics.add_image({}, labels), std::invalid_argument);
}

TEST(DetectionMetrics, ClassTableMatchesReferenceFormat) {
  DetectionMetrics metrics(2);
  const std::vector<GroundTruth> labels{gt(0, 0, 100, 100, 0), gt(0, 0, 100, 76, 1)};  // class 1: IoU 0.76
  const std::vector<Detection> dets{det(0, 0, 100, 100, 0.9f, 0), det(0, 0, 100, 100, 0.8f, 1)};
  metrics.add_image(dets, labels);
  const std::vector<std::string> names{"person", "bicycle"};
  const std::string table = format_class_table(metrics.compute(), names);
  const std::string expected =
      "                 Class     Images  Instances      Box(P          R      mAP50  mAP50-95)\n"
      "                   all          1          2          1          1      0.995      0.796\n"
      "                person          1          1          1          1      0.995      0.995\n"
      "               bicycle          1          1          1          1      0.995      0.597\n";
  EXPECT_EQ(table, expected);
}

TEST(Letterbox, MapsBoxesBackAndClips) {
  // 1280x720 into 640x640: gain 0.5, pad (0, round(139.9)) = (0, 140).
  const LetterboxMapping m = letterbox_mapping_for(640, 640, 1280, 720);
  EXPECT_FLOAT_EQ(m.gain, 0.5f);
  EXPECT_FLOAT_EQ(m.pad_x, 0.0f);
  EXPECT_FLOAT_EQ(m.pad_y, 140.0f);
  float box[4] = {10, 150, 700, 600};
  scale_box_to_original(box, m);
  EXPECT_FLOAT_EQ(box[0], 20.0f);
  EXPECT_FLOAT_EQ(box[1], 20.0f);
  EXPECT_FLOAT_EQ(box[2], 1280.0f);  // 1400 clipped
  EXPECT_FLOAT_EQ(box[3], 720.0f);   // 920 clipped
  const float xywh[4] = {0.5f, 0.5f, 0.25f, 0.125f};
  const GroundTruth g = label_to_original(3, xywh, 640, 640, m);
  EXPECT_FLOAT_EQ(g.x1, 480.0f);
  EXPECT_FLOAT_EQ(g.y1, 280.0f);  // (0.4375 * 640 - 140) / 0.5
  EXPECT_FLOAT_EQ(g.x2, 800.0f);
  EXPECT_FLOAT_EQ(g.y2, 440.0f);
  EXPECT_EQ(g.cls, 3);
}

TEST(DetectionMetrics, IouThresholdsAreTorchLinspace) {
  const data::H5Handle file = open_fixture();
  const std::vector<float> expected = read_floats(file, "iouv");
  const auto thresholds = iou_thresholds();
  ASSERT_EQ(expected.size(), thresholds.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(thresholds[i], expected[i]) << i;
}

TEST(DetectionMetrics, MatchesPythonFixture) {
  const data::H5Handle file = open_fixture();
  for (int k = 0; k < 5; ++k) {
    SCOPED_TRACE("metrics case" + std::to_string(k));
    const data::H5Handle g(H5_CHECK(H5Gopen2(file, ("metrics/case" + std::to_string(k)).c_str(), H5P_DEFAULT),
                                    fixture_path()));
    const int nc = static_cast<int>(data::read_int_attribute(g, "nc", fixture_path()));
    const int num_images = static_cast<int>(data::read_int_attribute(g, "num_images", fixture_path()));
    const std::vector<float> dets = read_floats(g, "detections"), labels = read_floats(g, "labels");
    const std::vector<int> det_image = read_ints(g, "detection_image"), label_image = read_ints(g, "label_image");
    std::vector<std::vector<Detection>> per_image_dets(num_images);
    std::vector<std::vector<GroundTruth>> per_image_labels(num_images);
    for (std::size_t i = 0; i < det_image.size(); ++i) {
      const float* d = &dets[i * 6];
      per_image_dets[det_image[i]].push_back(det(d[0], d[1], d[2], d[3], d[4], static_cast<int>(d[5])));
    }
    for (std::size_t i = 0; i < label_image.size(); ++i) {
      const float* l = &labels[i * 5];
      per_image_labels[label_image[i]].push_back(gt(l[0], l[1], l[2], l[3], static_cast<int>(l[4])));
    }
    // True positives image by image, in fixture order.
    const std::vector<int> tp = read_ints(g, "tp");
    std::size_t row = 0;
    DetectionMetrics metrics(nc);
    for (int im = 0; im < num_images; ++im) {
      const auto hits = match_predictions(per_image_dets[im], per_image_labels[im]);
      for (std::size_t d = 0; d < hits.size(); ++d, ++row)
        for (int t = 0; t < kNumIouThresholds; ++t)
          EXPECT_EQ(hits[d][t], tp[row * 10 + t] != 0) << "row " << row << " t " << t;
      metrics.add_image(per_image_dets[im], per_image_labels[im]);
    }
    const MetricsResult r = metrics.compute();
    const std::vector<int> classes = read_ints(g, "ap_classes");
    const std::vector<double> ap = read_doubles(g, "ap"), p = read_doubles(g, "precision"), rc = read_doubles(g, "recall");
    ASSERT_EQ(r.per_class.size(), classes.size());
    for (std::size_t c = 0; c < classes.size(); ++c) {
      EXPECT_EQ(r.per_class[c].cls, classes[c]);
      for (int t = 0; t < kNumIouThresholds; ++t) EXPECT_NEAR(r.per_class[c].ap[t], ap[c * 10 + t], 1e-6) << c << "," << t;
      EXPECT_NEAR(r.per_class[c].precision, p[c], 1e-6) << c;
      EXPECT_NEAR(r.per_class[c].recall, rc[c], 1e-6) << c;
    }
    EXPECT_NEAR(r.precision, read_double_attribute(g, "mp"), 1e-6);
    EXPECT_NEAR(r.recall, read_double_attribute(g, "mr"), 1e-6);
    EXPECT_NEAR(r.map50, read_double_attribute(g, "map50"), 1e-6);
    EXPECT_NEAR(r.map50_95, read_double_attribute(g, "map50_95"), 1e-6);
    EXPECT_NEAR(r.fitness, read_double_attribute(g, "fitness"), 1e-6);
  }
}

}  // namespace
}  // namespace shrike::train

namespace shrike::kernels {
namespace {

using train::fixture_path;
using train::open_fixture;
using train::read_floats;
using train::read_ints;

// One image's predictions (A, 4 + nc) from rows {cx, cy, w, h, scores...}.
std::vector<float> rows(std::initializer_list<std::vector<float>> list) {
  std::vector<float> out;
  for (const auto& r : list) out.insert(out.end(), r.begin(), r.end());
  return out;
}

TEST(Nms, SuppressesOverlapOfSameClass) {
  // Two boxes of class 0 with IoU 0.82 (> 0.7), one apart: keep the higher score and the far one.
  const std::vector<float> pred = rows({{50, 50, 40, 40, 0.9f, 0.0f}, {51, 52, 40, 40, 0.8f, 0.0f},
                                        {200, 200, 40, 40, 0.3f, 0.0f}});
  const auto out = non_max_suppression_image_cpu(pred.data(), 3, 2, NmsConfig{});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0].score, 0.9f);
  EXPECT_FLOAT_EQ(out[0].x1, 30.0f);
  EXPECT_FLOAT_EQ(out[1].score, 0.3f);
}

TEST(Nms, ClassOffsetKeepsOverlappingBoxesOfDifferentClasses) {
  const std::vector<float> pred = rows({{50, 50, 40, 40, 0.9f, 0.0f}, {51, 52, 40, 40, 0.0f, 0.8f}});
  const auto out = non_max_suppression_image_cpu(pred.data(), 2, 2, NmsConfig{});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].cls, 0);
  EXPECT_EQ(out[1].cls, 1);
  NmsConfig agnostic;
  agnostic.agnostic = true;
  EXPECT_EQ(non_max_suppression_image_cpu(pred.data(), 2, 2, agnostic).size(), 1u);
}

TEST(Nms, MultiLabelAndConfidenceThreshold) {
  // One anchor above conf for classes 0 and 2 (class 1 at exactly conf: not a candidate).
  const std::vector<float> pred = rows({{50, 50, 40, 40, 0.5f, 0.001f, 0.6f}});
  const auto out = non_max_suppression_image_cpu(pred.data(), 1, 3, NmsConfig{});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].cls, 2);
  EXPECT_EQ(out[1].cls, 0);
}

TEST(Nms, MaxDetKeepsTheHighestScores) {
  std::vector<float> pred;
  for (int i = 0; i < 20; ++i) {
    const std::vector<float> r{20.0f + 50.0f * i, 20, 30, 30, 0.01f * (i + 1)};
    pred.insert(pred.end(), r.begin(), r.end());
  }
  NmsConfig config;
  config.max_det = 5;
  const auto out = non_max_suppression_image_cpu(pred.data(), 20, 1, config);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_FLOAT_EQ(out[0].score, 0.20f);
  EXPECT_FLOAT_EQ(out[4].score, 0.16f);
}

TEST(Nms, GreedyMatchesNumpyFixture) {
  const data::H5Handle file = open_fixture();
  const data::H5Handle g(H5_CHECK(H5Gopen2(file, "nms_greedy", H5P_DEFAULT), fixture_path()));
  const std::vector<float> boxes = read_floats(g, "boxes"), scores = read_floats(g, "scores");
  const std::vector<int> keep = read_ints(g, "keep");
  EXPECT_EQ(nms_greedy_cpu(boxes, scores, 0.5), keep);
}

TEST(Nms, ValidationNmsMatchesNumpyFixture) {
  const data::H5Handle file = open_fixture();
  for (int k = 0; k < 3; ++k) {
    SCOPED_TRACE("nms case" + std::to_string(k));
    const data::H5Handle g(H5_CHECK(H5Gopen2(file, ("nms/case" + std::to_string(k)).c_str(), H5P_DEFAULT),
                                    fixture_path()));
    NmsConfig config;
    const int nc = static_cast<int>(data::read_int_attribute(g, "nc", fixture_path()));
    config.max_det = static_cast<int>(data::read_int_attribute(g, "max_det", fixture_path()));
    config.max_nms = static_cast<int>(data::read_int_attribute(g, "max_nms", fixture_path()));
    const std::vector<float> pred = read_floats(g, "predictions"), kept = read_floats(g, "kept");
    const int anchors = static_cast<int>(pred.size() / (4 + nc));
    const auto out = non_max_suppression_image_cpu(pred.data(), anchors, nc, config);
    ASSERT_EQ(out.size() * 6, kept.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
      const float* e = &kept[i * 6];
      EXPECT_EQ(out[i].x1, e[0]) << i;
      EXPECT_EQ(out[i].y1, e[1]) << i;
      EXPECT_EQ(out[i].x2, e[2]) << i;
      EXPECT_EQ(out[i].y2, e[3]) << i;
      EXPECT_EQ(out[i].score, e[4]) << i;
      EXPECT_EQ(out[i].cls, static_cast<int>(e[5])) << i;
    }
    // The batch entry point gives the same per image.
    std::vector<float> two(pred);
    two.insert(two.end(), pred.begin(), pred.end());
    const auto batch = non_max_suppression_cpu(two.data(), 2, anchors, nc, config);
    ASSERT_EQ(batch.size(), 2u);
    EXPECT_EQ(batch[1].size(), out.size());
  }
}

// The decode of the fixture's maps in T, compared (transposed) with `expected` (B, 4+nc, A).
template <typename T>
double decode_max_rel_error(const std::vector<std::vector<float>>& maps, const std::vector<double>& expected, int nc,
                            int batch, int imgsz) {
  std::vector<std::vector<T>> maps_t;
  std::vector<HeadLevel<T>> levels;
  for (const auto& m : maps) maps_t.emplace_back(m.begin(), m.end());
  for (int l = 0; l < 3; ++l) levels.push_back({maps_t[l].data(), imgsz >> (3 + l), imgsz >> (3 + l), 8 << l});
  const std::size_t anchors = detect_anchor_count<T>(levels);
  std::vector<T> out(batch * anchors * (4 + nc));
  detect_decode_cpu<T>(levels, batch, nc, 16, out.data());
  double worst = 0;
  for (int b = 0; b < batch; ++b)
    for (std::size_t a = 0; a < anchors; ++a)
      for (int c = 0; c < 4 + nc; ++c) {
        const double want = expected[(static_cast<std::size_t>(b) * (4 + nc) + c) * anchors + a];
        const double got = static_cast<double>(out[(b * anchors + a) * (4 + nc) + c]);
        worst = std::max(worst, std::fabs(got - want) / std::max(1.0, std::fabs(want)));
      }
  return worst;
}

TEST(DetectDecode, MatchesTorchFixture) {
  const data::H5Handle file = open_fixture();
  const data::H5Handle g(H5_CHECK(H5Gopen2(file, "decode", H5P_DEFAULT), fixture_path()));
  const int nc = static_cast<int>(data::read_int_attribute(g, "nc", fixture_path()));
  const auto dims = data::dataset_dims(g, "p3", fixture_path());
  const int batch = static_cast<int>(dims[0]), imgsz = static_cast<int>(dims[2]) * 8;
  std::vector<std::vector<float>> maps;
  for (const char* name : {"p3", "p4", "p5"}) maps.push_back(read_floats(g, name));
  const std::vector<float> expected32 = read_floats(g, "expected");
  const std::vector<double> expected64 = train::read_doubles(g, "expected_f64");
  const std::vector<double> expected32d(expected32.begin(), expected32.end());
  EXPECT_LT(decode_max_rel_error<float>(maps, expected32d, nc, batch, imgsz), 1e-5);
  EXPECT_LT(decode_max_rel_error<double>(maps, expected64, nc, batch, imgsz), 1e-12);
}

}  // namespace
}  // namespace shrike::kernels
