// scheduler/instance_advice.cpp: the recommendation rules of instance_advice.h.
#include "scheduler/instance_advice.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <limits>

namespace shrike::scheduler {

namespace {

constexpr std::size_t kSmallDataset = 5000;
constexpr std::size_t kLargeDataset = 50000;
constexpr double kLargeBatchPerGpu = 64;   // images at 640 per GPU
constexpr double kLargeModelGflops = 75;   // at 640

// 12345 -> "12,345" (without depending on an installed locale).
std::string grouped(std::size_t value) {
  const std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

double price_now(const accounting::InstanceType& type) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  const accounting::InstancePrice* price = type.price_at(now.count());
  return price != nullptr ? price->per_gpu_hour : std::numeric_limits<double>::infinity();
}

// The catalogue id for `wanted`, or a stand-in with at least `memory_gb` of GPU memory.
std::string available_or_closest(const std::string& wanted, double memory_gb, const accounting::InstanceCatalog& catalog,
                                 std::vector<std::string>& reasons) {
  if (catalog.find(wanted) != nullptr) return wanted;
  const accounting::InstanceType* best = nullptr;
  for (const auto& type : catalog.types) {
    if (type.is_cpu() || type.gpu_memory_gb < memory_gb) continue;
    if (best == nullptr || price_now(type) < price_now(*best)) best = &type;
  }
  if (best == nullptr) {  // nothing that large: the GPU type with the most memory
    for (const auto& type : catalog.types) {
      if (!type.is_cpu() && (best == nullptr || type.gpu_memory_gb > best->gpu_memory_gb)) best = &type;
    }
  }
  if (best == nullptr) {
    reasons.push_back(fmt::format("this site's catalogue ({}) has no GPU instance types: cpu", catalog.source.string()));
    return "cpu";
  }
  reasons.push_back(fmt::format("this site has no {}; {} is the cheapest with at least {:g} GB per GPU", wanted,
                                best->id, memory_gb));
  return best->id;
}

}  // namespace

InstanceAdvice recommend_instance(const AdviceInput& input, const accounting::InstanceCatalog& catalog) {
  InstanceAdvice advice;
  auto& reasons = advice.reasons;
  const double scale = static_cast<double>(input.imgsz) / 640.0;
  const double batch_per_gpu = static_cast<double>(input.batch) / std::max(1, input.gpus) * scale * scale;
  const bool large_batch = batch_per_gpu >= kLargeBatchPerGpu;
  const bool large_model = input.gflops_640 >= kLargeModelGflops;
  std::string wanted;
  double memory_gb = 24;
  if (input.budget) {
    wanted = "rtx3090";
    reasons.push_back("--budget: the cheapest GPU, RTX 3090 24 GB");
  } else if (input.train_images > kLargeDataset || large_batch) {
    wanted = large_model ? "h100-80gb" : "a100-80gb";
    memory_gb = 80;
    if (input.train_images > kLargeDataset) {
      reasons.push_back(fmt::format("{} training images (more than {}): an 80 GB GPU", grouped(input.train_images),
                                    grouped(kLargeDataset)));
    }
    if (large_batch) {
      reasons.push_back(fmt::format("batch {} on {} GPU(s) at imgsz {} is {:.0f} images of 640 per GPU (64 or more): "
                                    "an 80 GB GPU",
                                    input.batch, input.gpus, input.imgsz, batch_per_gpu));
    }
    reasons.push_back(large_model
                          ? fmt::format("a large model ({:.1f} GFLOPs at 640, 75 or more): H100 80 GB", input.gflops_640)
                          : fmt::format("a small or medium model ({:.1f} GFLOPs at 640): A100 80 GB", input.gflops_640));
  } else if (input.train_images >= kSmallDataset) {
    wanted = "a100-40gb";
    memory_gb = 40;
    reasons.push_back(fmt::format("{} training images ({} to {}): A100 40 GB", grouped(input.train_images),
                                  grouped(kSmallDataset), grouped(kLargeDataset)));
  } else {
    wanted = "rtx4090";
    reasons.push_back(fmt::format("{} training images (under {}): RTX 4090 24 GB", grouped(input.train_images),
                                  grouped(kSmallDataset)));
  }
  advice.instance = available_or_closest(wanted, memory_gb, catalog, reasons);
  return advice;
}

}  // namespace shrike::scheduler
