// tests/gpu/test_gpu_nms.cpp: the CUDA validation NMS (kernels/nms_cuda.h) against the
// CPU reference (non_max_suppression_cpu, kernels/nms.h) on fresh random predictions.
//
// Tolerance: none. Every image must give the same detections in the same order, each
// field bit-identical (both backends do the same float operations; the IoU threshold is
// compared in double on both).
// Inputs are built to hit the hard cases: boxes clustered around a few centres (lots of
// suppression), duplicated boxes (IoU 1), zero-width boxes (IoU 0 / 0), coordinates on
// a 1/8 px grid (IoUs exactly at the threshold), scores quantised to a few levels (ties
// everywhere: the stable order by score, the first maximal class), more candidates than
// max_nms, no candidates at all; batch 1 to 4, nc 1, 3 and 80, multi-label on and off,
// agnostic, small max_det.
// Without a usable CUDA device it prints why and exits 77 (ctest: skipped).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/nms.h"
#include "kernels/nms_cuda.h"
#include "tests/gpu/gpu_test_support.h"

namespace {

using namespace shrike::kernels;
using namespace shrike::gpu_test;

struct NmsCase {
  std::string name;
  int batch, anchors, nc;
  int score_levels;  // scores quantised to k / score_levels; 0: continuous
  NmsConfig config;
};

// (batch, anchors, 4 + nc) rows [cx, cy, w, h, scores...].
std::vector<float> make_predictions(std::mt19937_64& rng, const NmsCase& c) {
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const int row = 4 + c.nc;
  std::vector<float> out(static_cast<std::size_t>(c.batch) * c.anchors * row);
  const auto on_grid = [](float value, float step) { return std::round(value / step) * step; };
  for (int b = 0; b < c.batch; ++b) {
    const int num_centres = 1 + c.anchors / 20;
    std::vector<float> centres(2 * num_centres);
    for (float& v : centres) v = on_grid(640.0f * unit(rng), 0.125f);
    for (int a = 0; a < c.anchors; ++a) {
      float* r = &out[(static_cast<std::size_t>(b) * c.anchors + a) * row];
      const float pick = unit(rng);
      if (a > 0 && pick < 0.05f) {
        std::memcpy(r, r - row, 4 * sizeof(float));  // the previous anchor's box again
      } else {
        const int centre = static_cast<int>(unit(rng) * num_centres) % num_centres;
        r[0] = centres[2 * centre] + on_grid(60.0f * unit(rng) - 30.0f, 0.125f);
        r[1] = centres[2 * centre + 1] + on_grid(60.0f * unit(rng) - 30.0f, 0.125f);
        r[2] = pick < 0.08f ? 0.0f : on_grid(160.0f * unit(rng), 0.25f);
        r[3] = on_grid(160.0f * unit(rng), 0.25f);
      }
      for (int k = 0; k < c.nc; ++k) {
        const float u = unit(rng);
        r[4 + k] = c.score_levels > 0 ? std::floor(u * c.score_levels) / c.score_levels : u;
      }
    }
  }
  return out;
}

bool identical(const Detection& a, const Detection& b) {
  return std::memcmp(&a.x1, &b.x1, sizeof(float)) == 0 && std::memcmp(&a.y1, &b.y1, sizeof(float)) == 0 &&
         std::memcmp(&a.x2, &b.x2, sizeof(float)) == 0 && std::memcmp(&a.y2, &b.y2, sizeof(float)) == 0 &&
         std::memcmp(&a.score, &b.score, sizeof(float)) == 0 && a.cls == b.cls;
}

void run_case(Report& report, std::mt19937_64& rng, const NmsCase& c, cudaStream_t stream) {
  const std::vector<float> predictions = make_predictions(rng, c);
  const auto d_predictions = to_device(predictions);
  const auto expected = non_max_suppression_cpu(predictions.data(), c.batch, c.anchors, c.nc, c.config);
  const auto got = non_max_suppression_cuda(d_predictions.data(), c.batch, c.anchors, c.nc, c.config, stream);
  bool ok = got.size() == expected.size();
  std::string detail =
      std::string("images ") + std::to_string(got.size()) + "/" + std::to_string(expected.size()) + ", kept";
  for (std::size_t b = 0; ok && b < expected.size(); ++b) {
    detail += std::string(" ") + std::to_string(got[b].size()) + "/" + std::to_string(expected[b].size());
    if (got[b].size() != expected[b].size()) ok = false;
    for (std::size_t k = 0; ok && k < expected[b].size(); ++k) {
      if (identical(got[b][k], expected[b][k])) continue;
      ok = false;
      const Detection &g = got[b][k], &e = expected[b][k];
      char line[256];
      std::snprintf(line, sizeof line,
                    "; image %zu detection %zu: gpu (%g %g %g %g %.9g c%d) cpu (%g %g %g %g %.9g c%d)", b, k, g.x1,
                    g.y1, g.x2, g.y2, g.score, g.cls, e.x1, e.y1, e.x2, e.y2, e.score, e.cls);
      detail += line;
    }
  }
  report.check(c.name, ok, detail);
}

NmsConfig config_with(float conf, double iou, int max_det, int max_nms, bool multi_label, bool agnostic) {
  NmsConfig config;
  config.conf_thres = conf;
  config.iou_thres = iou;
  config.max_det = max_det;
  config.max_nms = max_nms;
  config.multi_label = multi_label;
  config.agnostic = agnostic;
  return config;
}

}  // namespace

int main() {
  if (!have_device()) return 77;
  std::mt19937_64 rng = seeded_rng();
  Report report;
  const NmsConfig base;  // the validator's settings
  const std::vector<NmsCase> cases = {
      {"one anchor, nc 1", 1, 1, 1, 0, base},
      {"b2 nc1 ties", 2, 500, 1, 16, base},
      {"b3 nc80 multi-label ties", 3, 300, 80, 16, base},
      {"b4 nc80 above max_nms 3000", 4, 2000, 80, 16, config_with(0.001f, 0.7, 300, 3000, true, false)},
      {"b2 nc80 best-class agnostic", 2, 2000, 80, 8, config_with(0.25f, 0.5, 300, 30000, false, true)},
      {"b4 nc80 agnostic max_det 10", 4, 1000, 80, 32, config_with(0.001f, 0.45, 10, 30000, true, true)},
      {"b1 nc80 full head continuous", 1, 8400, 80, 0, base},
      {"b2 nc80 full head ties above max_nms", 2, 8400, 80, 16, config_with(0.5f, 0.7, 300, 30000, true, false)},
      {"b3 nc3 iou 0.3", 3, 100, 3, 4, config_with(0.001f, 0.3, 300, 30000, true, false)},
      {"b2 nc80 no candidates", 2, 50, 80, 16, config_with(0.999f, 0.7, 300, 30000, true, false)},
      {"b1 nc1 iou 0.9 max_nms 100000", 1, 3000, 1, 0, config_with(0.001f, 0.9, 3000, 100000, true, false)},
      {"b4 nc7 best-class", 4, 777, 7, 8, config_with(0.1f, 0.6, 100, 500, false, false)},
  };
  cudaStream_t stream = nullptr;
  try {
    CUDA_CHECK(cudaStreamCreate(&stream));
    for (const NmsCase& c : cases) run_case(report, rng, c, stream);
    report.check("batch 0 gives no images", non_max_suppression_cuda(nullptr, 0, 100, 80, base, stream).empty());
    CUDA_CHECK(cudaStreamDestroy(stream));
  } catch (const std::exception& error) {
    report.check("no exception", false, error.what());
  }
  return report.finish();
}
