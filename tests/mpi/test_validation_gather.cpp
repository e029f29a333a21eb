// tests/mpi/test_validation_gather.cpp: distributed validation's merge under a real
// `mpirun -np N`. Made-up batches (labels and jittered detections, some true
// positives, some not; the same on every rank from one seed) are split as the
// validator splits them (batch b on rank b mod N), gathered to rank 0 and merged; the
// metrics must equal, bit for bit, those of one accumulator fed every batch in order.
#include <fmt/core.h>

#include <algorithm>
#include <random>

#include "pipeline/train/validation_gather.h"

using namespace shrike;
using namespace shrike::train;

namespace {

constexpr int kClasses = 5;
constexpr int kBatches = 11;  // not a multiple of 2, 3 or 4: ranks get uneven shares

// Batch b: 3 images, each with a few labels and detections near some of them.
BatchStatistics made_up_batch(int b) {
  std::mt19937 rng(1234 + b);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  BatchStatistics stats{static_cast<std::uint64_t>(b), DetectionMetrics(kClasses)};
  for (int image = 0; image < 3; ++image) {
    std::vector<GroundTruth> labels;
    std::vector<Detection> detections;
    const int count = static_cast<int>(rng() % 5);
    for (int l = 0; l < count; ++l) {
      const float x = 500 * unit(rng), y = 500 * unit(rng), w = 20 + 80 * unit(rng), h = 20 + 80 * unit(rng);
      labels.push_back({x, y, x + w, y + h, static_cast<int>(rng() % kClasses)});
      if (unit(rng) < 0.7f) {  // a detection near it, sometimes of another class
        const float jitter = 12 * unit(rng);
        const int cls = unit(rng) < 0.8f ? labels.back().cls : static_cast<int>(rng() % kClasses);
        detections.push_back({x + jitter, y - jitter, x + w + jitter, y + h, unit(rng), cls});
      }
    }
    if (unit(rng) < 0.5f) detections.push_back({10, 10, 60, 60, unit(rng), static_cast<int>(rng() % kClasses)});
    std::sort(detections.begin(), detections.end(), [](const Detection& a, const Detection& b) { return a.score > b.score; });
    stats.metrics.add_image(detections, labels);
  }
  stats.losses[0] = 0.1 * b + 0.01;
  stats.losses[1] = 1.0 / (b + 1);
  stats.losses[2] = 0.5;
  stats.images = 3;
  return stats;
}

bool same(const MetricsResult& a, const MetricsResult& b) {
  bool equal = a.precision == b.precision && a.recall == b.recall && a.map50 == b.map50 && a.map50_95 == b.map50_95 &&
               a.images == b.images && a.per_class.size() == b.per_class.size() &&
               a.instances_per_class == b.instances_per_class && a.images_per_class == b.images_per_class;
  for (std::size_t c = 0; equal && c < a.per_class.size(); ++c) equal = a.per_class[c].ap == b.per_class[c].ap;
  return equal;
}

}  // namespace

int main(int argc, char** argv) {
  dist::MpiContext context(&argc, &argv);
  auto comm = dist::make_mpi_communicator(context, 60.0);
  std::vector<BatchStatistics> mine;
  for (int b = context.rank(); b < kBatches; b += context.world()) mine.push_back(made_up_batch(b));
  const auto gathered = gather_batch_statistics(std::move(mine), *comm, 0);
  if (!context.is_root()) return gathered.empty() ? 0 : 1;
  std::vector<BatchStatistics> every;
  for (int b = 0; b < kBatches; ++b) every.push_back(made_up_batch(b));
  const BatchStatistics merged = merge_batch_statistics(gathered, kClasses);
  const BatchStatistics alone = merge_batch_statistics(every, kClasses);
  const MetricsResult distributed = merged.metrics.compute(), single = alone.metrics.compute();
  int failures = 0;
  auto check = [&failures](bool ok, const std::string& what) {
    if (!ok) ++failures, fmt::print(stderr, "FAIL: {}\n", what);
  };
  check(gathered.size() == kBatches, fmt::format("{} batches gathered, expected {}", gathered.size(), kBatches));
  check(single.map50 > 0.05 && single.map50 < 0.999, fmt::format("the made-up batches give a non-trivial mAP50 ({})", single.map50));
  check(same(distributed, single), fmt::format("metrics over {} ranks (mAP50 {}, mAP50-95 {}) equal one process's ({}, {})",
                                               context.world(), distributed.map50, distributed.map50_95, single.map50,
                                               single.map50_95));
  check(merged.losses[0] == alone.losses[0] && merged.losses[1] == alone.losses[1] && merged.images == alone.images,
        "losses and image counts equal one process's");
  fmt::print("{} ranks: mAP50 {:.4f} mAP50-95 {:.4f} over {} images: {}\n", context.world(), distributed.map50,
             distributed.map50_95, merged.images, failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
