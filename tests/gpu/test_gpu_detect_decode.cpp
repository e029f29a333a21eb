// tests/gpu/test_gpu_detect_decode.cpp: the CUDA Detect decode (kernels/detect_decode_cuda.h)
// against the CPU reference (kernels/detect_decode.h) on fresh random head maps.
//
// Reference: detect_decode_cpu<double> on the same inputs (for bf16, the bf16-rounded
// values, which the kernel converts to float exactly), so the only error measured is the
// kernel's fp32 arithmetic (CUDA's expf is within 2 ulp). Tolerances, fp32 and bf16 inputs
// alike (the output is fp32 either way):
//   box columns (cx, cy, w, h in input pixels): |diff| <= 1e-3 px + 2e-6 * |expected|
//     (a coordinate of an image of 640 px, i.e. ~1e-6 relative to the image size);
//   scores (sigmoid): |diff| <= 1e-6 + 1e-5 * |expected|.
// Shapes: 1 to 3 levels of odd sizes (1x1, 7x5, ...) and the full 640 px head (80x80,
// 40x40, 20x20), batch 1 to 3, nc 0, 1, 3, 7, 80, reg_max 1, 16, 64. Every output entry
// starts as NaN, so an unwritten entry fails. Bad arguments must throw.
// Without a usable CUDA device it prints why and exits 77 (ctest: skipped).
#include <cstdio>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/detect_decode.h"
#include "kernels/detect_decode_cuda.h"
#include "tests/gpu/gpu_test_support.h"

namespace {

using namespace shrike::kernels;
using namespace shrike::gpu_test;

struct LevelShape {
  int h, w, stride;
};

struct Case {
  int batch, nc, reg_max;
  std::vector<LevelShape> levels;
};

// The device output (batch, A, 4 + nc) of one case with head maps of type T.
template <typename T>
std::vector<float> decode_on_device(const std::vector<std::vector<float>>& maps, const Case& c, std::size_t out_size) {
  std::vector<DeviceArray<T>> device_maps;
  std::vector<HeadLevel<T>> levels;
  for (std::size_t l = 0; l < maps.size(); ++l) {
    if constexpr (std::is_same_v<T, float>) {
      device_maps.push_back(to_device(maps[l]));
    } else {
      device_maps.push_back(to_device(to_bf16(maps[l])));
    }
    levels.push_back({device_maps.back().data(), c.levels[l].h, c.levels[l].w, c.levels[l].stride});
  }
  DeviceArray<float> out(out_size);
  if (out_size > 0) CUDA_CHECK(cudaMemset(out.data(), 0xff, out.bytes()));  // NaN everywhere
  detect_decode_cuda<T>(out.data(), std::span<const HeadLevel<T>>(levels), c.batch, c.nc, c.reg_max, nullptr);
  return to_host(out);
}

void run_case(Report& report, std::mt19937_64& rng, const Case& c, bool bf16) {
  const int channels = 4 * c.reg_max + c.nc;
  std::vector<std::vector<float>> maps;
  std::vector<std::vector<double>> maps_double;
  std::vector<HeadLevel<double>> cpu_levels;
  for (const LevelShape& shape : c.levels) {
    std::vector<float> map =
        random_floats(rng, static_cast<std::size_t>(c.batch) * channels * shape.h * shape.w, -6.0f, 6.0f);
    if (bf16) map = round_to_bf16(map);
    maps.push_back(map);
    maps_double.emplace_back(map.begin(), map.end());
  }
  for (std::size_t l = 0; l < maps.size(); ++l)
    cpu_levels.push_back({maps_double[l].data(), c.levels[l].h, c.levels[l].w, c.levels[l].stride});
  const std::size_t anchors = detect_anchor_count(std::span<const HeadLevel<double>>(cpu_levels));
  const std::size_t row = static_cast<std::size_t>(4 + c.nc), out_size = c.batch * anchors * row;
  std::vector<double> expected(out_size);
  detect_decode_cpu<double>(cpu_levels, c.batch, c.nc, c.reg_max, expected.data());
  const std::vector<float> got =
      bf16 ? decode_on_device<__nv_bfloat16>(maps, c, out_size) : decode_on_device<float>(maps, c, out_size);

  std::vector<float> got_boxes, want_boxes, got_scores, want_scores;
  for (std::size_t i = 0; i < out_size; ++i) {
    const bool box = i % row < 4;
    (box ? got_boxes : got_scores).push_back(got[i]);
    (box ? want_boxes : want_scores).push_back(static_cast<float>(expected[i]));
  }
  std::string name = std::string(bf16 ? "bf16" : "fp32") + " b" + std::to_string(c.batch) + " nc" +
                     std::to_string(c.nc) + " reg" + std::to_string(c.reg_max) + " levels";
  for (const LevelShape& s : c.levels) name += std::string(" ") + std::to_string(s.h) + "x" + std::to_string(s.w);
  report.compare(name + " boxes", got_boxes, want_boxes, 1e-3, 2e-6);
  report.compare(name + " scores", got_scores, want_scores, 1e-6, 1e-5);
}

// Arguments the decode refuses.
void test_bad_arguments(Report& report) {
  DeviceArray<float> map(4 * 64 + 2), out(64);
  const std::vector<HeadLevel<float>> one = {{map.data(), 1, 1, 8}};
  for (const int reg_max : {0, 65}) {
    bool threw = false;
    try {
      detect_decode_cuda<float>(out.data(), std::span<const HeadLevel<float>>(one), 1, 2, reg_max, nullptr);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    report.check(std::string("reg_max ") + std::to_string(reg_max) + " is refused", threw);
  }
  const std::vector<HeadLevel<float>> nine(9, one[0]);
  bool threw = false;
  try {
    detect_decode_cuda<float>(out.data(), std::span<const HeadLevel<float>>(nine), 1, 2, 16, nullptr);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  report.check("9 levels are refused", threw);
}

}  // namespace

int main() {
  if (!have_device()) return 77;
  std::mt19937_64 rng = seeded_rng();
  Report report;
  const std::vector<Case> cases = {
      {1, 80, 16, {{80, 80, 8}, {40, 40, 16}, {20, 20, 32}}},
      {3, 1, 16, {{7, 5, 8}, {4, 3, 16}, {1, 1, 32}}},
      {2, 7, 1, {{3, 3, 8}}},
      {2, 3, 64, {{5, 7, 8}, {3, 4, 16}}},
      {1, 0, 16, {{4, 4, 8}}},
      {2, 33, 16, {{13, 17, 8}, {0, 5, 16}, {7, 9, 32}}},  // an empty level in the middle
  };
  try {
    for (const Case& c : cases) {
      run_case(report, rng, c, false);
      run_case(report, rng, c, true);
    }
    test_bad_arguments(report);
  } catch (const std::exception& error) {
    report.check("no exception", false, error.what());
  }
  return report.finish();
}
