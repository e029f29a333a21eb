// tests/unit/test_detect_loss.cpp: the v8 detection loss (kernels/detect_loss.h), its
// assigner (kernels/assign_tal.h) and CIoU (kernels/box_iou.h), checked four ways:
//   - the loss gradient against central differences in double, assignment frozen;
//   - the CIoU gradient against central differences, alpha frozen;
//   - the assigner on hand-made cases (conflict rule, background, no GTs);
//   - the whole loss against the PyTorch fixture tests/reference/fixtures/loss_v8.h5
//     written by tests/reference/make_loss_fixture.py from yolo_reference.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/assign_tal.h"
#include "kernels/box_iou.h"
#include "kernels/detect_loss.h"
#include "pipeline/data/hdf5_check.h"
#include "tests/unit/gradient_check.h"

namespace shrike::kernels {
namespace {

using test::random_vector;

// Head maps for one batch: one NCHW buffer per level, strides 8, 16, 32.
template <typename T>
struct HeadMaps {
  int batch = 0, imgsz = 0, channels = 0;
  std::vector<std::vector<T>> data;

  int side(int level) const { return imgsz / (8 << level); }
  std::vector<HeadLevel<T>> levels() const {
    std::vector<HeadLevel<T>> out;
    for (int l = 0; l < 3; ++l) out.push_back({data[l].data(), side(l), side(l), 8 << l});
    return out;
  }
};

// Random maps shaped like an early-training head: box logits falling with the bin
// index (predicted distances of ~2 grid cells, so CIoUs are positive) plus noise, and
// class logits around -2.
HeadMaps<double> random_maps(int batch, int imgsz, const DetectLossConfig& config, unsigned seed) {
  HeadMaps<double> maps{batch, imgsz, 4 * config.reg_max + config.nc, {}};
  for (int l = 0; l < 3; ++l) {
    const std::size_t plane = static_cast<std::size_t>(maps.side(l)) * maps.side(l);
    std::vector<double> level = random_vector(batch * maps.channels * plane, seed + l);
    for (std::size_t i = 0; i < level.size(); ++i) {
      const int channel = static_cast<int>((i / plane) % maps.channels);
      const bool box = channel < 4 * config.reg_max;
      level[i] = box ? level[i] - 0.5 * (channel % config.reg_max) : 2.0 * level[i] - 2.0;
    }
    maps.data.push_back(std::move(level));
  }
  return maps;
}

template <typename T>
std::vector<T*> grad_pointers(std::vector<std::vector<T>>& grads, const HeadMaps<T>& maps) {
  std::vector<T*> out;
  grads.clear();
  for (const auto& level : maps.data) grads.emplace_back(level.size(), T(0));
  for (auto& g : grads) out.push_back(g.data());
  return out;
}

template <typename T>
DetectLossResult<T> loss_given(const HeadMaps<T>& maps, const DetectAssignment<T>& assignment,
                               const DetectLossConfig& config, std::vector<T*> grads = {}) {
  const auto levels = maps.levels();
  return detect_loss_given_assignment_cpu<T>(levels, maps.batch, assignment, config, grads);
}

template <typename T>
DetectAssignment<T> assign(const HeadMaps<T>& maps, const std::vector<float>& targets, const DetectLossConfig& config) {
  const auto levels = maps.levels();
  return assign_detect_targets_cpu<T>(levels, maps.batch, targets.data(), static_cast<int>(targets.size() / 6), config);
}

bool same_assignment(const DetectAssignment<double>& a, const DetectAssignment<double>& b) {
  return a.fg_mask == b.fg_mask && a.target_gt_index == b.target_gt_index;
}

double relative_l2(const std::vector<double>& value, const std::vector<double>& reference) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    num += (value[i] - reference[i]) * (value[i] - reference[i]);
    den += reference[i] * reference[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// --- the loss gradient by finite differences ----------------------------------------

TEST(DetectLoss, GradientMatchesFiniteDifferencesWithAssignmentFrozen) {
  DetectLossConfig config;
  config.nc = 3;
  HeadMaps<double> maps = random_maps(2, 64, config, 11);
  // Image 0: three boxes, two of them overlapping; image 1: background.
  const std::vector<float> targets = {0, 0, 0.40f, 0.45f, 0.50f, 0.55f,  //
                                      0, 2, 0.55f, 0.50f, 0.45f, 0.50f,  //
                                      0, 1, 0.20f, 0.75f, 0.25f, 0.30f};
  DetectAssignment<double> assignment = assign(maps, targets, config);
  const auto levels = maps.levels();
  freeze_ciou_alpha_cpu<double>(levels, maps.batch, config, assignment);
  int foreground = 0;
  for (unsigned char fg : assignment.fg_mask) foreground += fg;
  ASSERT_GT(foreground, 3) << "the test needs foreground anchors to exercise the box and DFL terms";

  std::vector<std::vector<double>> grads;
  const DetectLossResult<double> base = loss_given(maps, assignment, config, grad_pointers(grads, maps));
  EXPECT_NEAR(base.total, loss_given(maps, assign(maps, targets, config), config).total, 1e-12 * base.total)
      << "freezing alpha at the evaluation point must not change the loss";
  EXPECT_GT(base.box, 0.0);
  EXPECT_GT(base.dfl, 0.0);
  const double h = 1e-6;
  for (int l = 0; l < 3; ++l) {
    std::vector<double> numeric(maps.data[l].size());
    for (std::size_t i = 0; i < numeric.size(); ++i) {
      const double saved = maps.data[l][i];
      maps.data[l][i] = saved + h;
      const double up = loss_given(maps, assignment, config).total;
      ASSERT_TRUE(same_assignment(assign(maps, targets, config), assignment)) << "level " << l << " entry " << i;
      maps.data[l][i] = saved - h;
      const double down = loss_given(maps, assignment, config).total;
      ASSERT_TRUE(same_assignment(assign(maps, targets, config), assignment)) << "level " << l << " entry " << i;
      maps.data[l][i] = saved;
      numeric[i] = (up - down) / (2 * h);
    }
    const double error = relative_l2(grads[l], numeric);
    EXPECT_LT(error, 1e-6) << "level " << l;
    std::printf("[ fd ] level %d: relative L2 error %.3g over %zu entries\n", l, error, numeric.size());
  }
}

TEST(DetectLoss, WholeLossIsTheTwoStepsInSequence) {
  DetectLossConfig config;
  config.nc = 3;
  const HeadMaps<double> maps = random_maps(2, 64, config, 5);
  const std::vector<float> targets = {1, 2, 0.5f, 0.5f, 0.4f, 0.3f};
  std::vector<std::vector<double>> grads_whole, grads_steps;
  const auto levels = maps.levels();
  const auto whole = detect_loss_cpu<double>(levels, 2, targets.data(), 1, config, grad_pointers(grads_whole, maps));
  const auto steps = loss_given(maps, assign(maps, targets, config), config, grad_pointers(grads_steps, maps));
  EXPECT_EQ(whole.total, steps.total);
  EXPECT_EQ(grads_whole, grads_steps);
  EXPECT_DOUBLE_EQ(whole.total, (whole.box + whole.cls + whole.dfl) * 2);
}

#ifdef _OPENMP
TEST(DetectLoss, ResultDoesNotDependOnThreadCount) {
  // Large enough for every loop to run in parallel (8 x 1344 anchors, 2 GT rows).
  DetectLossConfig config;
  config.nc = 5;
  const HeadMaps<double> maps64 = random_maps(8, 256, config, 21);
  HeadMaps<float> maps{8, 256, maps64.channels, {}};
  for (const auto& level : maps64.data) maps.data.emplace_back(level.begin(), level.end());
  const std::vector<float> targets = {0, 1, 0.3f, 0.3f, 0.3f, 0.4f, 2, 4, 0.6f, 0.5f, 0.5f, 0.5f,
                                      3, 0, 0.5f, 0.5f, 0.9f, 0.9f, 3, 2, 0.4f, 0.6f, 0.3f, 0.2f};
  const auto levels = maps.levels();
  const int saved_threads = omp_get_max_threads();
  std::vector<std::vector<float>> grads_one, grads_many;
  omp_set_num_threads(1);
  const auto one = detect_loss_cpu<float>(levels, 8, targets.data(), 4, config, grad_pointers(grads_one, maps));
  omp_set_num_threads(4);
  const auto many = detect_loss_cpu<float>(levels, 8, targets.data(), 4, config, grad_pointers(grads_many, maps));
  omp_set_num_threads(saved_threads);
  EXPECT_GT(one.box, 0.0f);
  EXPECT_EQ(one.total, many.total);
  EXPECT_EQ(grads_one, grads_many);
}
#endif

// --- CIoU ---------------------------------------------------------------------------

TEST(BoxIou, CiouGradientMatchesFiniteDifferencesWithAlphaFrozen) {
  // Overlapping, nested (each way), disjoint, and touching-corner-free pairs.
  const double pairs[][8] = {{1.0, 2.0, 5.0, 7.0, 2.0, 1.5, 6.5, 6.0},   {0.5, 0.5, 9.0, 8.0, 2.0, 3.0, 5.0, 6.0},
                             {3.0, 3.0, 4.0, 5.5, 1.0, 2.0, 7.0, 8.0},   {0.0, 0.0, 2.0, 3.0, 4.0, 5.0, 7.0, 9.0},
                             {2.0, -1.0, 6.0, 1.5, 1.0, 0.0, 3.0, 4.0}};
  const double h = 1e-7;
  for (const auto& pair : pairs) {
    const double* target = pair + 4;
    double box[4] = {pair[0], pair[1], pair[2], pair[3]}, grad[4];
    const double ciou = ciou_xyxy(box, target, grad);
    const double alpha = ciou_alpha_xyxy(box, target);
    EXPECT_DOUBLE_EQ(ciou, ciou_xyxy_given_alpha(box, target, alpha));
    for (int k = 0; k < 4; ++k) {
      const double saved = box[k];
      box[k] = saved + h;
      const double up = ciou_xyxy_given_alpha(box, target, alpha);
      box[k] = saved - h;
      const double down = ciou_xyxy_given_alpha(box, target, alpha);
      box[k] = saved;
      const double numeric = (up - down) / (2 * h);
      EXPECT_NEAR(grad[k], numeric, 1e-7 * std::max(1.0, std::fabs(numeric))) << "pair " << pair[0] << " side " << k;
    }
  }
}

TEST(BoxIou, CiouOfIdenticalBoxesIsOneAndSymmetric) {
  const double a[4] = {1, 2, 5, 9}, b[4] = {2, 1, 6, 7};
  EXPECT_NEAR(ciou_xyxy(a, a), 1.0, 1e-6);
  EXPECT_DOUBLE_EQ(ciou_xyxy(a, b), ciou_xyxy(b, a));
  double xywh[4], back[4];
  xyxy_to_xywh(xywh, a);
  xywh_to_xyxy(back, xywh);
  for (int k = 0; k < 4; ++k) EXPECT_DOUBLE_EQ(back[k], a[k]);
  const double anchor[2] = {3, 4}, ltrb[4] = {1, 2, 20, 3};
  double box[4], dist[4];
  dist_to_bbox(box, ltrb, anchor);
  bbox_to_dist(dist, anchor, box, 14.99);
  EXPECT_DOUBLE_EQ(dist[0], 1);
  EXPECT_DOUBLE_EQ(dist[2], 14.99);  // clamped
}

// --- the assigner on hand-made cases ------------------------------------------------

// One image, a handful of anchors and GTs, everything in pixels.
struct AssignerCase {
  int nc = 2;
  std::vector<double> anchors;      // (A, 2)
  std::vector<double> pred_boxes;   // (A, 4)
  std::vector<double> scores;       // (A, nc)
  std::vector<int> gt_labels;       // (N)
  std::vector<double> gt_boxes;     // (N, 4)
  int topk = 10;

  int num_anchors() const { return static_cast<int>(anchors.size() / 2); }
  int num_gts() const { return static_cast<int>(gt_labels.size()); }
};

struct AssignerResult {
  std::vector<int> labels, gt_index;
  std::vector<double> boxes, scores;
  std::vector<unsigned char> fg;
};

AssignerResult run_assigner(const AssignerCase& c) {
  const int a = c.num_anchors(), n = c.num_gts();
  AssignerResult r{std::vector<int>(a), std::vector<int>(a), std::vector<double>(a * 4), std::vector<double>(a * c.nc),
                   std::vector<unsigned char>(a)};
  const std::vector<unsigned char> valid(n, 1);
  const TalInputs<double> inputs{c.scores.data(), c.pred_boxes.data(), c.anchors.data(), c.gt_labels.data(),
                                 c.gt_boxes.data(), valid.data(), 1, a, c.nc, n};
  TalConfig config;
  config.topk = c.topk;
  assign_tal_cpu(inputs, config, TalOutputs<double>{r.labels.data(), r.boxes.data(), r.scores.data(), r.fg.data(),
                                                     r.gt_index.data()});
  return r;
}

double clamped_ciou(const std::vector<double>& gt_boxes, int g, const std::vector<double>& pred_boxes, int a) {
  return std::max(ciou_xyxy(&gt_boxes[4 * g], &pred_boxes[4 * a]), 0.0);
}

TEST(AssignTal, AnchorInsideTwoGtsGoesToTheHigherOverlap) {
  AssignerCase c;
  c.anchors = {50, 50, 150, 150};                    // anchor 1 is outside both GTs
  c.pred_boxes = {30, 30, 72, 70, 140, 140, 160, 160};
  c.scores = {0.6, 0.4, 0.5, 0.5};
  c.gt_labels = {0, 1};
  c.gt_boxes = {10, 10, 90, 90, 25, 28, 75, 72};     // the prediction fits GT 1 better
  ASSERT_GT(clamped_ciou(c.gt_boxes, 1, c.pred_boxes, 0), clamped_ciou(c.gt_boxes, 0, c.pred_boxes, 0));
  const AssignerResult r = run_assigner(c);
  EXPECT_TRUE(r.fg[0]);
  EXPECT_EQ(r.gt_index[0], 1);
  EXPECT_EQ(r.labels[0], 1);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(r.boxes[k], c.gt_boxes[4 + k]);
  // Its only positive: norm = align * overlap / (align + eps) = overlap, on the GT's class.
  EXPECT_NEAR(r.scores[1], clamped_ciou(c.gt_boxes, 1, c.pred_boxes, 0), 1e-8);
  EXPECT_EQ(r.scores[0], 0.0);
  EXPECT_FALSE(r.fg[1]) << "an anchor outside every GT is background";
  EXPECT_EQ(r.scores[2] + r.scores[3], 0.0);
}

TEST(AssignTal, ConflictArgmaxIncludesGtsThatDidNotSelectTheAnchor) {
  // topk 1. GTs 0 and 1 both pick anchor 0 (their only candidate); GT 2 contains
  // anchors 0 and 1 and picks anchor 1 (higher score), but its overlap with anchor 0's
  // prediction is the largest of the three, so the conflict hands anchor 0 to GT 2.
  AssignerCase c;
  c.topk = 1;
  c.anchors = {40, 40, 60, 40};
  c.pred_boxes = {20, 20, 62, 60, 20, 20, 64, 60};  // anchor 1 predicts GT 2 exactly
  c.scores = {0.1, 0.1, 0.1, 0.9};
  c.gt_labels = {0, 0, 1};
  c.gt_boxes = {35, 30, 48, 50, 30, 35, 50, 46, 20, 20, 64, 60};
  const double overlap[3] = {clamped_ciou(c.gt_boxes, 0, c.pred_boxes, 0), clamped_ciou(c.gt_boxes, 1, c.pred_boxes, 0),
                             clamped_ciou(c.gt_boxes, 2, c.pred_boxes, 0)};
  ASSERT_GT(overlap[0], 0.0);
  ASSERT_GT(overlap[1], 0.0);
  ASSERT_GT(overlap[2], std::max(overlap[0], overlap[1]));
  // GT 2's align favours anchor 1: 0.9^0.5 * ciou(gt2, pred1)^6 > 0.1^0.5 * ciou(gt2, pred0)^6.
  ASSERT_GT(std::sqrt(0.9) * std::pow(clamped_ciou(c.gt_boxes, 2, c.pred_boxes, 1), 6),
            std::sqrt(0.1) * std::pow(overlap[2], 6));
  const AssignerResult r = run_assigner(c);
  ASSERT_TRUE(r.fg[0]);
  EXPECT_EQ(r.gt_index[0], 2);
  EXPECT_EQ(r.labels[0], 1);
  ASSERT_TRUE(r.fg[1]);
  EXPECT_EQ(r.gt_index[1], 2);
}

TEST(AssignTal, TopkKeepsTheBestAlignedCandidates) {
  // One large GT containing 5 anchors with identical predictions; topk 3 keeps the
  // three highest scores.
  AssignerCase c;
  c.topk = 3;
  c.nc = 1;
  for (int i = 0; i < 5; ++i) {
    c.anchors.insert(c.anchors.end(), {20.0 + 10 * i, 50.0});
    c.pred_boxes.insert(c.pred_boxes.end(), {10, 20, 90, 80});
  }
  c.scores = {0.2, 0.9, 0.5, 0.7, 0.1};
  c.gt_labels = {0};
  c.gt_boxes = {10, 20, 90, 80};
  const AssignerResult r = run_assigner(c);
  const std::vector<unsigned char> expected = {0, 1, 1, 1, 0};
  EXPECT_EQ(r.fg, expected);
  // Identical overlaps o: norm = sqrt(s) o^6 * o / (sqrt(0.9) o^6 + eps): the best anchor gets o.
  const double o = clamped_ciou(c.gt_boxes, 0, c.pred_boxes, 1);
  EXPECT_NEAR(r.scores[1], o, 1e-8);
  EXPECT_NEAR(r.scores[3], o * std::sqrt(0.7 / 0.9), 1e-8);
}

TEST(AssignTal, NoGtsMeansAllBackground) {
  AssignerCase c;
  c.anchors = {10, 10, 30, 30};
  c.pred_boxes = {0, 0, 20, 20, 20, 20, 40, 40};
  c.scores = {0.5, 0.5, 0.5, 0.5};
  const AssignerResult r = run_assigner(c);
  for (int a = 0; a < 2; ++a) {
    EXPECT_FALSE(r.fg[a]);
    EXPECT_EQ(r.labels[a], c.nc);  // the reference's background index
  }
  for (double s : r.scores) EXPECT_EQ(s, 0.0);
}

TEST(DetectLoss, NoTargetsGivesZeroBoxAndDflAndBceAgainstZeros) {
  DetectLossConfig config;
  config.nc = 3;
  const HeadMaps<double> maps = random_maps(2, 64, config, 3);
  std::vector<std::vector<double>> grads;
  const auto levels = maps.levels();
  const auto result = detect_loss_cpu<double>(levels, 2, nullptr, 0, config, grad_pointers(grads, maps));
  EXPECT_EQ(result.box, 0.0);
  EXPECT_EQ(result.dfl, 0.0);
  // cls = 0.5 * sum softplus(x) / max(0, 1); d(total)/dx = 0.5 * batch * sigmoid(x), box channels 0.
  double bce = 0;
  for (int l = 0; l < 3; ++l) {
    const std::size_t plane = static_cast<std::size_t>(maps.side(l)) * maps.side(l);
    for (std::size_t i = 0; i < maps.data[l].size(); ++i) {
      const int channel = static_cast<int>((i / plane) % maps.channels);
      const double x = maps.data[l][i];
      if (channel < 64) {
        ASSERT_EQ(grads[l][i], 0.0);
        continue;
      }
      bce += std::log1p(std::exp(x));
      ASSERT_NEAR(grads[l][i], 0.5 * 2 / (1 + std::exp(-x)), 1e-12);
    }
  }
  EXPECT_NEAR(result.cls, 0.5 * bce, 1e-9 * bce);
  EXPECT_NEAR(result.total, result.cls * 2, 1e-12 * bce);
}

TEST(DetectLoss, RejectsTargetsOutsideTheBatchOrClasses) {
  DetectLossConfig config;
  config.nc = 3;
  const HeadMaps<double> maps = random_maps(1, 64, config, 3);
  const auto levels = maps.levels();
  const std::vector<float> bad_image = {1, 0, 0.5f, 0.5f, 0.2f, 0.2f}, bad_class = {0, 3, 0.5f, 0.5f, 0.2f, 0.2f};
  EXPECT_THROW(detect_loss_cpu<double>(levels, 1, bad_image.data(), 1, config, {}), std::invalid_argument);
  EXPECT_THROW(detect_loss_cpu<double>(levels, 1, bad_class.data(), 1, config, {}), std::invalid_argument);
}

// --- the PyTorch fixture ------------------------------------------------------------

struct LossFixture {
  int nc = 0, imgsz = 0, batch = 0;
  std::vector<std::vector<float>> maps, grads;   // p3..p5 and d(total)/d(p3..p5)
  std::vector<float> targets, loss;
  float loss_total = 0;
};

std::vector<float> read_floats(hid_t file, const char* name, const std::string& context) {
  std::size_t count = 1;
  for (hsize_t d : data::dataset_dims(file, name, context)) count *= static_cast<std::size_t>(d);
  std::vector<float> out(count);
  data::read_dataset(file, name, H5T_NATIVE_FLOAT, out.data(), context);
  return out;
}

LossFixture load_loss_fixture() {
  const std::string path = std::string(SHRIKE_SOURCE_DIR) + "/tests/reference/fixtures/loss_v8.h5";
  data::silence_hdf5_error_printing();
  data::H5Handle file(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path));
  LossFixture fx;
  fx.nc = static_cast<int>(data::read_int_attribute(file, "nc", path));
  fx.imgsz = static_cast<int>(data::read_int_attribute(file, "imgsz", path));
  fx.batch = static_cast<int>(data::dataset_dims(file, "p3", path).at(0));
  for (const char* level : {"p3", "p4", "p5"}) {
    fx.maps.push_back(read_floats(file, level, path));
    fx.grads.push_back(read_floats(file, ("grad_" + std::string(level)).c_str(), path));
  }
  fx.targets = read_floats(file, "targets", path);
  fx.loss = read_floats(file, "loss", path);
  fx.loss_total = read_floats(file, "loss_total", path).at(0);
  return fx;
}

template <typename T>
void expect_matches_fixture(const LossFixture& fx) {
  DetectLossConfig config;
  config.nc = fx.nc;
  HeadMaps<T> maps{fx.batch, fx.imgsz, 4 * config.reg_max + fx.nc, {}};
  for (const auto& level : fx.maps) maps.data.emplace_back(level.begin(), level.end());
  std::vector<std::vector<T>> grads;
  const auto levels = maps.levels();
  const auto result = detect_loss_cpu<T>(levels, fx.batch, fx.targets.data(), static_cast<int>(fx.targets.size() / 6),
                                         config, grad_pointers(grads, maps));
  const T items[3] = {result.box, result.cls, result.dfl};
  const char* names[3] = {"box", "cls", "dfl"};
  for (int k = 0; k < 3; ++k) {
    const double error = std::fabs(items[k] - fx.loss[k]) / std::fabs(fx.loss[k]);
    EXPECT_LT(error, 1e-5) << names[k] << ": shrike " << items[k] << ", PyTorch " << fx.loss[k];
    std::printf("[ fixture ] %s: %s relative error %.3g\n", sizeof(T) == 4 ? "float" : "double", names[k], error);
  }
  EXPECT_LT(std::fabs(result.total - fx.loss_total) / fx.loss_total, 1e-5);
  for (int l = 0; l < 3; ++l) {
    const std::vector<double> ours(grads[l].begin(), grads[l].end()), theirs(fx.grads[l].begin(), fx.grads[l].end());
    const double error = relative_l2(ours, theirs);
    EXPECT_LT(error, 1e-4) << "gradient of p" << (l + 3);
    std::printf("[ fixture ] %s: grad p%d relative L2 error %.3g\n", sizeof(T) == 4 ? "float" : "double", l + 3,
                error);
  }
}

TEST(DetectLoss, MatchesPyTorchFixtureInFloat) { expect_matches_fixture<float>(load_loss_fixture()); }

TEST(DetectLoss, MatchesPyTorchFixtureInDouble) { expect_matches_fixture<double>(load_loss_fixture()); }

}  // namespace
}  // namespace shrike::kernels
