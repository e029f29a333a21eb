// scheduler/run_estimate.cpp: throughput (measured or from the catalogue), epoch time,
// total time and cost, each step written out.
#include "scheduler/run_estimate.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "pipeline/core/error.h"

namespace shrike::scheduler {

namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

// Sets the throughput from the past runs on the instance; false when there are none.
bool measured_throughput(const EstimateInput& input, RunEstimate& estimate) {
  std::vector<double> rates;
  std::vector<std::string> examples;
  for (const ThroughputSample& sample : input.past) {
    if (sample.instance != input.instance->id || sample.images_per_second <= 0 || sample.gflops_per_image <= 0) continue;
    rates.push_back(sample.images_per_second * 3.0 * sample.gflops_per_image);
    if (examples.size() < 3) {
      examples.push_back(fmt::format("{}: {:.1f} img/s per GPU at {:.2f} GFLOPs/image", sample.run,
                                     sample.images_per_second, sample.gflops_per_image));
    }
  }
  if (rates.empty()) return false;
  const double gflops_per_second = median(rates);
  estimate.measured = true;
  estimate.images_per_second_per_gpu = gflops_per_second / (3.0 * input.gflops_per_image);
  estimate.arithmetic.push_back(fmt::format("throughput, measured: {} past run(s) of yours on {}", rates.size(),
                                            input.instance->id));
  for (const std::string& example : examples) estimate.arithmetic.push_back("  " + example);
  estimate.arithmetic.push_back(fmt::format(
      "  median work rate {:.0f} GFLOP/s per GPU (img/s x 3 x GFLOPs/image) / (3 x {:.2f} GFLOPs/image at imgsz {})"
      " = {:.1f} img/s per GPU",
      gflops_per_second, input.gflops_per_image, input.imgsz, estimate.images_per_second_per_gpu));
  return true;
}

void catalogue_throughput(const EstimateInput& input, RunEstimate& estimate) {
  const double rate = input.instance->relative_speed * kReferenceGflopsPerSecond;
  estimate.images_per_second_per_gpu = rate / (3.0 * input.gflops_per_image);
  estimate.arithmetic.push_back(fmt::format(
      "throughput, from the catalogue (no past runs of yours on {}): relative speed {:g} x {:.0f} GFLOP/s "
      "(h100-80gb = 1.0) / (3 x {:.2f} GFLOPs/image at imgsz {}: forward + backward) = {:.1f} img/s per GPU",
      input.instance->id, input.instance->relative_speed, kReferenceGflopsPerSecond, input.gflops_per_image,
      input.imgsz, estimate.images_per_second_per_gpu));
}

}  // namespace

std::string duration_text(double seconds) {
  const long total = std::lround(std::max(0.0, seconds));
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
  if (total >= 60) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}s", total);
}

RunEstimate estimate_run(const EstimateInput& input) {
  if (input.instance == nullptr) fail_internal("estimate_run without an instance type");
  if (input.gflops_per_image <= 0) fail_internal("estimate_run with {} GFLOPs per image", input.gflops_per_image);
  RunEstimate estimate;
  if (!measured_throughput(input, estimate)) catalogue_throughput(input, estimate);
  const int gpus = std::max(1, input.gpus);
  const double scaling = gpus > 1 ? kMultiGpuEfficiency : 1.0;
  const double train_rate = estimate.images_per_second_per_gpu * gpus * scaling;
  const double train_seconds = static_cast<double>(input.train_images) / train_rate;
  const double val_seconds = static_cast<double>(input.val_images) / (3.0 * train_rate);
  estimate.epoch_seconds = train_seconds + val_seconds;
  estimate.arithmetic.push_back(fmt::format(
      "epoch: {} train images / ({:.1f} img/s x {} GPU(s) x {:g} scaling) + {} val images / (3 x {:.1f} img/s) = {}",
      input.train_images, estimate.images_per_second_per_gpu, gpus, scaling, input.val_images, train_rate,
      duration_text(estimate.epoch_seconds)));
  if (input.time_hours > 0) {
    estimate.total_seconds = input.time_hours * 3600.0 + kStartupSeconds;
    estimate.epochs = std::max(1, static_cast<int>(std::floor(input.time_hours * 3600.0 / estimate.epoch_seconds)));
    estimate.arithmetic.push_back(fmt::format("timed training: time={:g} h (about {} epochs fit) + {:.0f} s start-up = {}",
                                              input.time_hours, estimate.epochs, kStartupSeconds,
                                              duration_text(estimate.total_seconds)));
  } else {
    estimate.epochs = input.epochs;
    estimate.total_seconds = input.epochs * estimate.epoch_seconds + kStartupSeconds;
    estimate.arithmetic.push_back(fmt::format("total: {} epochs x {} + {:.0f} s start-up = {}", input.epochs,
                                              duration_text(estimate.epoch_seconds), kStartupSeconds,
                                              duration_text(estimate.total_seconds)));
  }
  estimate.gpu_hours = estimate.total_seconds / 3600.0 * gpus;
  estimate.credits = estimate.gpu_hours * input.credits_per_gpu_hour;
  estimate.money = estimate.gpu_hours * input.money_per_gpu_hour;
  estimate.arithmetic.push_back(fmt::format(
      "cost: {:.3f} h x {} GPU(s) = {:.3f} GPU-hours x {:.4g} credits/GPU-hour = {:.2f} credits ({} {:.2f} at {:.2f} "
      "per GPU-hour)",
      estimate.total_seconds / 3600.0, gpus, estimate.gpu_hours, input.credits_per_gpu_hour, estimate.credits,
      input.currency, estimate.money, input.money_per_gpu_hour));
  return estimate;
}

int time_limit_minutes(double estimate_seconds, double requested_hours, double margin, int min_minutes,
                       int signal_lead_seconds) {
  const double wanted = requested_hours > 0 ? requested_hours * 3600.0 : estimate_seconds * margin;
  const double floor_seconds = min_minutes * 60.0 + signal_lead_seconds;
  return static_cast<int>(std::ceil(std::max(wanted, floor_seconds) / 60.0));
}

}  // namespace shrike::scheduler
