// tests/gpu/test_gpu_detect_loss.cpp
//
// DetectLossCuda (the whole v8 detection loss on the GPU) against the CPU reference
// detect_loss_cpu<float> on fresh random head maps and targets: batch 1, 2, 3; input
// sizes 32x32, 64x64, 96x128 and 256x320 with strides 8/16/32; nc 1, 3, 80; reg_max 16;
// topk 10 and 32 (more than a 32x32 input has anchors); total_scale 0 and 12. Targets
// include an image with none, a batch with none at all, tiny boxes (no anchor inside),
// boxes touching the image border, two identical GTs, and many GTs per image (anchors
// selected by several GTs), with the rows shuffled across images.
//
// Tolerances (fp32; the GPU's exp/log/atan/pow differ from glibc's by a few ulps, and
// nvcc contracts a*b+c into FMAs, so results agree to ~1e-6 relative, not bitwise):
//   items (box, cls, dfl, total):         |diff| <= 1e-7 + 1e-5 |cpu|
//   raw target-score sum (assign step):   |diff| <= 1e-9 + 1e-5 |cpu|
//   each level's gradient:                ||gpu - cpu||_2 <= 1e-5 ||cpu||_2 and
//                                         max |gpu - cpu| <= 1e-5 max |cpu|
// Gradient buffers are filled with NaN first, so an element the kernels do not write
// fails. Repeating assign + compute must give bitwise-identical items and gradients
// (no float atomics), and a loss-only compute the same items. validate_targets must
// throw std::invalid_argument for a bad class and a bad image index (and assign too).
// The assignment is discrete (top-k ranks, argmax over overlaps): a near-tie that the
// last-ulp differences flip would show as a gradient failure; with random inputs this
// is rare, and the seed printed at the start replays it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/detect_loss.h"
#include "kernels/detect_loss_cuda.h"
#include "tests/gpu/gpu_test_support.h"

namespace {

using namespace shrike;
using namespace shrike::gpu_test;
using kernels::DetectLossConfig;
using kernels::DeviceArray;
using kernels::LevelShape;

constexpr int kStrides[3] = {8, 16, 32};

struct Case {
  std::string name;
  int batch, height, width, nc;
  int topk = 10;
  int total_scale = 0;
  int max_targets_per_image = 7;
  bool no_targets = false;
};

// Rows [image, class, cx, cy, w, h] (normalised), shuffled across images. The last
// image of a batch > 1 has none; image 0 gets a tiny box, a box touching the top-left
// and one touching the bottom-right border, and a copy of its first box.
std::vector<float> random_targets(std::mt19937_64& rng, const Case& c) {
  std::vector<std::vector<float>> rows;
  if (c.no_targets) return {};
  std::uniform_real_distribution<float> size(0.05f, 0.6f), unit(0.0f, 1.0f);
  std::uniform_int_distribution<int> count(1, c.max_targets_per_image), label(0, c.nc - 1);
  const int images_with_targets = c.batch > 1 ? c.batch - 1 : c.batch;
  for (int b = 0; b < images_with_targets; ++b) {
    const int n = count(rng);
    for (int i = 0; i < n; ++i) {
      const float w = size(rng), h = size(rng);
      const float cx = w / 2 + unit(rng) * (1 - w), cy = h / 2 + unit(rng) * (1 - h);
      rows.push_back({static_cast<float>(b), static_cast<float>(label(rng)), cx, cy, w, h});
    }
  }
  rows.push_back({0.0f, static_cast<float>(label(rng)), 0.37f, 0.41f, 0.01f, 0.012f});  // tiny
  rows.push_back({0.0f, static_cast<float>(label(rng)), 0.15f, 0.1f, 0.3f, 0.2f});      // top-left border
  rows.push_back({0.0f, static_cast<float>(label(rng)), 0.8f, 0.75f, 0.4f, 0.5f});      // bottom-right border
  std::vector<float> duplicate = rows.front();
  duplicate[0] = 0.0f;
  rows.push_back(duplicate);  // two identical GTs in image 0
  std::shuffle(rows.begin(), rows.end(), rng);
  std::vector<float> flat;
  for (const auto& row : rows) flat.insert(flat.end(), row.begin(), row.end());
  return flat;
}

struct GpuRun {
  std::vector<float> items;
  double score_sum = 0;
  std::vector<std::vector<float>> grads;
};

// One assign + compute on the device; grads NaN-filled first (empty: loss only).
GpuRun run_gpu(kernels::DetectLossCuda& loss, const std::vector<DeviceArray<float>>& heads,
               std::vector<DeviceArray<float>>* grads, const std::vector<float>& targets) {
  std::vector<const float*> head_ptrs;
  for (const auto& h : heads) head_ptrs.push_back(h.data());
  std::vector<float*> grad_ptrs;
  if (grads != nullptr)
    for (auto& g : *grads) {
      CUDA_CHECK(cudaMemset(g.data(), 0xff, g.bytes()));
      grad_ptrs.push_back(g.data());
    }
  DeviceArray<float> items(4);
  loss.assign(head_ptrs, targets.data(), static_cast<int>(targets.size() / 6), nullptr);
  GpuRun run;
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemcpy(&run.score_sum, loss.target_scores_sum_device(), sizeof(double), cudaMemcpyDeviceToHost));
  loss.compute(head_ptrs, grad_ptrs, items.data(), nullptr);
  run.items = to_host(items);
  if (grads != nullptr)
    for (const auto& g : *grads) run.grads.push_back(to_host(g));
  return run;
}

void compare_gradient(Report& report, const std::string& name, const std::vector<float>& got,
                      const std::vector<float>& expected) {
  double diff2 = 0, ref2 = 0, max_diff = 0, max_ref = 0;
  bool finite = got.size() == expected.size();
  for (std::size_t i = 0; finite && i < got.size(); ++i) {
    if (!std::isfinite(got[i])) {
      finite = false;
      break;
    }
    const double d = static_cast<double>(got[i]) - expected[i];
    diff2 += d * d;
    ref2 += static_cast<double>(expected[i]) * expected[i];
    max_diff = std::max(max_diff, std::abs(d));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(expected[i])));
  }
  const double rel_l2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  const bool ok = finite && rel_l2 <= 1e-5 && max_diff <= 1e-5 * max_ref;
  char detail[160];
  std::snprintf(detail, sizeof(detail), "rel L2 %.3g (tol 1e-5), max |diff| %.3g (tol %.3g)%s", rel_l2, max_diff,
                1e-5 * max_ref, finite ? "" : "  NON-FINITE OR UNWRITTEN ELEMENT");
  report.check(name, ok, detail);
}

void run_case(Report& report, std::mt19937_64& rng, const Case& c) {
  DetectLossConfig config;
  config.nc = c.nc;
  config.reg_max = 16;
  config.topk = c.topk;
  config.total_scale = c.total_scale;
  const int channels = 4 * config.reg_max + config.nc;
  std::vector<LevelShape> shapes;
  std::vector<std::vector<float>> host_heads;
  for (int stride : kStrides) {
    const LevelShape shape{c.height / stride, c.width / stride, stride};
    shapes.push_back(shape);
    const std::size_t plane = static_cast<std::size_t>(shape.h) * shape.w;
    std::vector<float> head(static_cast<std::size_t>(c.batch) * channels * plane);
    std::uniform_real_distribution<float> box_logit(-4.0f, 4.0f), class_logit(-6.0f, 3.0f);
    for (int b = 0; b < c.batch; ++b)
      for (int ch = 0; ch < channels; ++ch)
        for (std::size_t p = 0; p < plane; ++p)
          head[(static_cast<std::size_t>(b) * channels + ch) * plane + p] =
              ch < 4 * config.reg_max ? box_logit(rng) : class_logit(rng);
    host_heads.push_back(std::move(head));
  }
  const std::vector<float> targets = random_targets(rng, c);
  const int num_targets = static_cast<int>(targets.size() / 6);

  // CPU reference.
  std::vector<kernels::HeadLevel<float>> levels;
  std::vector<std::vector<float>> cpu_grads;
  std::vector<float*> cpu_grad_ptrs;
  for (std::size_t l = 0; l < shapes.size(); ++l) {
    levels.push_back({host_heads[l].data(), shapes[l].h, shapes[l].w, shapes[l].stride});
    cpu_grads.emplace_back(host_heads[l].size());
  }
  for (auto& g : cpu_grads) cpu_grad_ptrs.push_back(g.data());
  const auto cpu = kernels::detect_loss_cpu<float>(levels, c.batch, targets.data(), num_targets, config, cpu_grad_ptrs);
  const auto cpu_assignment =
      kernels::assign_detect_targets_cpu<float>(levels, c.batch, targets.data(), num_targets, config);
  int foreground = 0;
  for (unsigned char fg : cpu_assignment.fg_mask) foreground += fg;

  // GPU.
  std::vector<DeviceArray<float>> heads, grads;
  for (std::size_t l = 0; l < shapes.size(); ++l) {
    heads.push_back(to_device(host_heads[l]));
    grads.emplace_back(host_heads[l].size());
  }
  kernels::DetectLossCuda loss(config, c.batch, shapes);
  const GpuRun first = run_gpu(loss, heads, &grads, targets);
  const GpuRun again = run_gpu(loss, heads, &grads, targets);
  const GpuRun loss_only = run_gpu(loss, heads, nullptr, targets);

  const std::string prefix = c.name + " (" + std::to_string(num_targets) + " GTs, " + std::to_string(foreground) + " fg)";
  std::printf("%s\n", prefix.c_str());
  report.compare(c.name + " items box/cls/dfl/total", first.items, {cpu.box, cpu.cls, cpu.dfl, cpu.total}, 1e-7, 1e-5);
  report.compare(c.name + " raw target-score sum", {static_cast<float>(first.score_sum)},
                 {static_cast<float>(cpu_assignment.target_scores_raw_sum)}, 1e-9, 1e-5);
  for (std::size_t l = 0; l < shapes.size(); ++l)
    compare_gradient(report, c.name + " grad level " + std::to_string(l), first.grads[l], cpu_grads[l]);
  bool identical = first.items == again.items && first.score_sum == again.score_sum;
  for (std::size_t l = 0; l < shapes.size(); ++l) identical = identical && first.grads[l] == again.grads[l];
  report.check(c.name + " repeat is bitwise identical", identical);
  report.check(c.name + " loss-only items equal", loss_only.items == first.items);
}

template <typename Call>
void expect_invalid_argument(Report& report, const std::string& name, Call call) {
  try {
    call();
  } catch (const std::invalid_argument& e) {
    report.check(name, true, e.what());
    return;
  }
  report.check(name, false, "no std::invalid_argument thrown");
}

void check_validation(Report& report) {
  DetectLossConfig config;
  config.nc = 3;
  const std::vector<LevelShape> shapes = {{8, 8, 8}, {4, 4, 16}, {2, 2, 32}};
  kernels::DetectLossCuda loss(config, 2, shapes);
  const std::vector<float> good = {0, 2, 0.5f, 0.5f, 0.2f, 0.2f, 1, 0, 0.3f, 0.3f, 0.1f, 0.1f};
  bool accepted = true;
  try {
    loss.validate_targets(good.data(), 2);
  } catch (const std::exception&) {
    accepted = false;
  }
  report.check("validate_targets accepts good rows", accepted);
  const std::vector<float> bad_class = {0, 3, 0.5f, 0.5f, 0.2f, 0.2f};
  const std::vector<float> negative_class = {0, -1, 0.5f, 0.5f, 0.2f, 0.2f};
  const std::vector<float> fractional_class = {0, 1.5f, 0.5f, 0.5f, 0.2f, 0.2f};
  const std::vector<float> bad_image = {2, 0, 0.5f, 0.5f, 0.2f, 0.2f};
  const std::vector<float> negative_image = {-1, 0, 0.5f, 0.5f, 0.2f, 0.2f};
  expect_invalid_argument(report, "validate_targets: class nc", [&] { loss.validate_targets(bad_class.data(), 1); });
  expect_invalid_argument(report, "validate_targets: class -1",
                          [&] { loss.validate_targets(negative_class.data(), 1); });
  expect_invalid_argument(report, "validate_targets: class 1.5",
                          [&] { loss.validate_targets(fractional_class.data(), 1); });
  expect_invalid_argument(report, "validate_targets: image == batch",
                          [&] { loss.validate_targets(bad_image.data(), 1); });
  expect_invalid_argument(report, "validate_targets: image -1",
                          [&] { loss.validate_targets(negative_image.data(), 1); });
  expect_invalid_argument(report, "validate_targets: rows missing", [&] { loss.validate_targets(nullptr, 1); });
  // assign() validates before it queues anything.
  std::vector<DeviceArray<float>> heads;
  std::vector<const float*> head_ptrs;
  for (const auto& s : shapes) {
    heads.emplace_back(static_cast<std::size_t>(2) * (64 + 3) * s.h * s.w);
    head_ptrs.push_back(heads.back().data());
  }
  expect_invalid_argument(report, "assign rejects a bad class",
                          [&] { loss.assign(head_ptrs, bad_class.data(), 1, nullptr); });
  expect_invalid_argument(report, "assign rejects a bad image index",
                          [&] { loss.assign(head_ptrs, bad_image.data(), 1, nullptr); });
  expect_invalid_argument(report, "constructor rejects topk 33", [&] {
    DetectLossConfig too_many = config;
    too_many.topk = 33;
    kernels::DetectLossCuda rejected(too_many, 2, shapes);
  });
}

}  // namespace

int main() {
  if (!have_device()) return 77;
  auto rng = seeded_rng();
  Report report;
  const std::vector<Case> cases = {
      {"b1 64x64 nc1", 1, 64, 64, 1},
      {"b2 64x64 nc3", 2, 64, 64, 3},
      {"b3 96x128 nc80", 3, 96, 128, 80},
      {"b1 64x64 nc3 no targets", 1, 64, 64, 3, 10, 0, 7, true},
      {"b3 32x32 nc3 topk32 scale12", 3, 32, 32, 3, 32, 12},
      {"b2 256x320 nc80 crowded", 2, 256, 320, 80, 10, 0, 40},
  };
  try {
    for (const Case& c : cases) run_case(report, rng, c);
    check_validation(report);
  } catch (const std::exception& e) {
    std::printf("FAILED with exception: %s\n", e.what());
    return 1;
  }
  return report.finish();
}
