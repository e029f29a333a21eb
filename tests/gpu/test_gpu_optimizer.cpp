// tests/gpu/test_gpu_optimizer.cpp: the CUDA optimizer kernels (kernels/optimizer_cuda.h)
// against the CPU reference (kernels/optimizer_update.h) on fresh random buffers.
//
// Tolerances (fp32 buffers; the kernels have no bf16 form):
//   SGD (plain, Nesterov, first step), Adam, AdamW, clip_by_norm, scale, EMA: bit-exact
//     (both sides do the same IEEE float operations in the same order, no FMA);
//     every mismatch is counted and its distance in ulp printed;
//   sum of squares: relative 1e-12 against sum_squares_cpu (both in double, different
//     summation orders), and bit-identical between two GPU runs (fixed order).
// Shapes: 3 parameter groups over spans of odd lengths (1, 3, 7, 33, 65 and random up to
// 70001, with uncovered gaps) tiled by tile_spans, over buffers of 1, 7, 65 and
// 1'000'007 elements; several steps so the momentum / moment buffers carry over.
// Without a usable CUDA device it prints why and exits 77 (ctest: skipped).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/optimizer_cuda.h"
#include "kernels/optimizer_update.h"
#include "tests/gpu/gpu_test_support.h"

namespace {

using namespace shrike::kernels;
using namespace shrike::gpu_test;

constexpr int kGroups = 3;
constexpr std::size_t kLarge = 1'000'007;

// The float's position on the number line, so that neighbours differ by 1.
std::int64_t ordered(float value) {
  std::int32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits < 0 ? -static_cast<std::int64_t>(bits & 0x7fffffff) : bits;
}

// Bit-exact comparison; prints the mismatch count and the worst distance in ulp.
void expect_identical(Report& report, const std::string& name, const std::vector<float>& got,
                      const std::vector<float>& expected) {
  std::size_t mismatches = 0, worst_index = 0;
  std::int64_t worst_ulp = 0;
  const bool size_ok = got.size() == expected.size();
  for (std::size_t i = 0; size_ok && i < got.size(); ++i) {
    if (std::memcmp(&got[i], &expected[i], sizeof(float)) == 0) continue;
    ++mismatches;
    const std::int64_t ulp = std::llabs(ordered(got[i]) - ordered(expected[i]));
    if (ulp > worst_ulp) worst_ulp = ulp, worst_index = i;
  }
  char detail[160];
  std::snprintf(detail, sizeof detail, "%zu of %zu differ, worst %lld ulp at %zu%s", mismatches, expected.size(),
                static_cast<long long>(worst_ulp), worst_index, size_ok ? "" : " SIZE MISMATCH");
  report.check(name, size_ok && mismatches == 0, detail);
}

// Spans over (n): pieces of odd lengths cycling through the groups, some elements left
// out between pieces (neither backend may touch them), then tiled as the trainer does.
std::vector<UpdateSpan> make_spans(std::mt19937_64& rng, std::size_t n) {
  const std::size_t fixed_lengths[] = {1, 3, 7, 33, 65};
  std::uniform_int_distribution<std::size_t> random_length(1, 70001), gap(0, 3);
  std::vector<UpdateSpan> spans;
  std::size_t offset = 0;
  std::uint32_t group = 0;
  for (int k = 0; offset < n; ++k) {
    const std::size_t wanted = k < 5 ? fixed_lengths[k] : random_length(rng);
    const std::size_t count = std::min(wanted, n - offset);
    spans.push_back({offset, count, group});
    offset += count + (k % 4 == 3 ? gap(rng) : 0);
    group = (group + 1) % kGroups;
  }
  return tile_spans(spans);
}

// The span list on the device, uploaded once.
DeviceArray<UpdateSpan> upload_spans(const std::vector<UpdateSpan>& spans) { return to_device(spans); }

void test_sgd(Report& report, std::mt19937_64& rng, std::size_t n, bool nesterov) {
  const std::vector<UpdateSpan> spans = make_spans(rng, n);
  const auto d_spans = upload_spans(spans);
  const SgdGroup cpu_groups[kGroups] = {{0.01, 0.937, 5e-4}, {0.02, 0.9, 0.0}, {0.0033, 0.8, 1e-3}};
  SgdGroupsCuda gpu_groups;
  for (int g = 0; g < kGroups; ++g) {
    gpu_groups.lr[g] = cpu_groups[g].lr;
    gpu_groups.momentum[g] = cpu_groups[g].momentum;
    gpu_groups.weight_decay[g] = cpu_groups[g].weight_decay;
  }
  std::vector<float> param = random_floats(rng, n), buf = random_floats(rng, n);  // buf: garbage before step 1
  auto d_param = to_device(param), d_buf = to_device(buf);
  for (int step = 1; step <= 3; ++step) {
    const std::vector<float> grad = random_floats(rng, n, -0.1f, 0.1f);
    const auto d_grad = to_device(grad);
    const bool first = step == 1;
    sgd_update_cpu(param.data(), grad.data(), buf.data(), spans, cpu_groups, nesterov, first);
    sgd_update_cuda(d_param.data(), d_grad.data(), d_buf.data(), d_spans.data(), static_cast<int>(spans.size()),
                    gpu_groups, nesterov, first, nullptr);
    const std::string name = std::string("sgd") + (nesterov ? " nesterov" : "") + " n=" + std::to_string(n) + " step " +
                             std::to_string(step);
    expect_identical(report, name + " param", to_host(d_param), param);
    expect_identical(report, name + " momentum", to_host(d_buf), buf);
  }
}

void test_adam(Report& report, std::mt19937_64& rng, std::size_t n, bool decoupled) {
  const std::vector<UpdateSpan> spans = make_spans(rng, n);
  const auto d_spans = upload_spans(spans);
  const AdamGroup cpu_groups[kGroups] = {{0.001, 0.05}, {0.002, 0.0}, {0.000714, 0.01}};
  AdamGroupsCuda gpu_groups;
  for (int g = 0; g < kGroups; ++g) {
    gpu_groups.lr[g] = cpu_groups[g].lr;
    gpu_groups.weight_decay[g] = cpu_groups[g].weight_decay;
  }
  AdamSettings settings;
  settings.beta1 = 0.937;
  settings.decoupled_weight_decay = decoupled;
  std::vector<float> param = random_floats(rng, n), m(n, 0.0f), v(n, 0.0f);
  auto d_param = to_device(param), d_m = to_device(m), d_v = to_device(v);
  for (int step = 1; step <= 3; ++step) {
    settings.step = step;
    const std::vector<float> grad = random_floats(rng, n, -0.1f, 0.1f);
    const auto d_grad = to_device(grad);
    adam_update_cpu(param.data(), grad.data(), m.data(), v.data(), spans, cpu_groups, settings);
    adam_update_cuda(d_param.data(), d_grad.data(), d_m.data(), d_v.data(), d_spans.data(),
                     static_cast<int>(spans.size()), gpu_groups, settings, nullptr);
    const std::string name =
        std::string(decoupled ? "adamw" : "adam") + " n=" + std::to_string(n) + " step " + std::to_string(step);
    expect_identical(report, name + " param", to_host(d_param), param);
    expect_identical(report, name + " exp_avg", to_host(d_m), m);
    expect_identical(report, name + " exp_avg_sq", to_host(d_v), v);
  }
}

// The device sum of squares of x (n) into a fresh result.
double device_sum_squares(const DeviceArray<float>& x, std::size_t n) {
  DeviceArray<double> result(1), scratch(sum_squares_scratch_size(n));
  sum_squares_cuda(result.data(), scratch.data(), x.data(), n, nullptr);
  return to_host(result)[0];
}

void test_sum_squares(Report& report, std::mt19937_64& rng, std::size_t n) {
  const std::vector<float> x = random_floats(rng, n, -3.0f, 3.0f);
  const auto d_x = to_device(x);
  const double expected = sum_squares_cpu(x.data(), n);
  const double got = device_sum_squares(d_x, n), again = device_sum_squares(d_x, n);
  const double rel = expected == 0 ? std::abs(got) : std::abs(got - expected) / expected;
  char detail[160];
  std::snprintf(detail, sizeof detail, "gpu %.17g cpu %.17g rel %.3g (tolerance 1e-12)", got, expected, rel);
  report.check(std::string("sum_squares n=") + std::to_string(n), rel <= 1e-12, detail);
  report.check(std::string("sum_squares n=") + std::to_string(n) + " deterministic",
               std::memcmp(&got, &again, sizeof got) == 0);
}

// clip_by_norm_cuda against the CPU path of the trainer (pipeline/train/optimizer.cpp),
// fed the device's own sum of squares so that the factor is the same double.
void test_clip(Report& report, std::mt19937_64& rng, std::size_t n, double max_norm_over_norm) {
  std::vector<float> x = random_floats(rng, n);
  auto d_x = to_device(x);
  DeviceArray<double> sum(1), scratch(sum_squares_scratch_size(n));
  sum_squares_cuda(sum.data(), scratch.data(), d_x.data(), n, nullptr);
  const double norm = std::sqrt(to_host(sum)[0]);
  const double max_norm = max_norm_over_norm * norm;
  clip_by_norm_cuda(d_x.data(), n, sum.data(), max_norm, nullptr);
  const double factor = clip_factor(norm, max_norm);
  if (factor < 1.0) scale_in_place_cpu(x.data(), static_cast<float>(factor), n);
  expect_identical(report,
                   std::string("clip n=") + std::to_string(n) + " max_norm/norm=" + std::to_string(max_norm_over_norm),
                   to_host(d_x), x);
}

void test_scale(Report& report, std::mt19937_64& rng, std::size_t n) {
  std::vector<float> x = random_floats(rng, n);
  auto d_x = to_device(x);
  scale_in_place_cpu(x.data(), 0.3721f, n);
  scale_in_place_cuda(d_x.data(), 0.3721f, n, nullptr);
  expect_identical(report, std::string("scale n=") + std::to_string(n), to_host(d_x), x);
}

void test_ema(Report& report, std::mt19937_64& rng, std::size_t n, double decay) {
  std::vector<float> ema = random_floats(rng, n);
  const std::vector<float> model = random_floats(rng, n);
  auto d_ema = to_device(ema);
  const auto d_model = to_device(model);
  ema_update_cpu(ema.data(), model.data(), n, decay);
  ema_update_cuda(d_ema.data(), d_model.data(), n, decay, nullptr);
  expect_identical(report, std::string("ema n=") + std::to_string(n) + " decay=" + std::to_string(decay),
                   to_host(d_ema), ema);
}

}  // namespace

int main() {
  if (!have_device()) return 77;
  std::mt19937_64 rng = seeded_rng();
  Report report;
  try {
    for (const std::size_t n : {std::size_t{1}, std::size_t{7}, std::size_t{65}, kLarge}) {
      test_sgd(report, rng, n, false);
      test_sgd(report, rng, n, true);
      test_adam(report, rng, n, true);
      test_adam(report, rng, n, false);
    }
    for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{33}, std::size_t{16384},
                                std::size_t{65537}, kLarge})
      test_sum_squares(report, rng, n);
    for (const std::size_t n : {std::size_t{1}, std::size_t{65}, kLarge}) {
      test_clip(report, rng, n, 0.5);  // clips
      test_clip(report, rng, n, 2.0);  // leaves x as it is
      test_scale(report, rng, n);
    }
    for (const double decay : {0.9999 * (1 - std::exp(-1.0 / 2000)), 0.9999 * (1 - std::exp(-300.0 / 2000)), 0.9999})
      for (const std::size_t n : {std::size_t{3}, kLarge}) test_ema(report, rng, n, decay);
  } catch (const std::exception& error) {
    report.check("no exception", false, error.what());
  }
  return report.finish();
}
