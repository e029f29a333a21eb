// scheduler/run_estimate.h
//
// How long a training run will take on an instance type and what it will cost, with
// the arithmetic written out for the plan (`shrike submit --dry-run`), and the time
// limit asked of Slurm. Two ways to know the throughput, and the plan says which:
//  - measured: the user's past runs on that instance type (images/s per GPU from their
//    metrics.jsonl), made comparable across models and image sizes as the work they did
//    per second: images/s x 3 x forward GFLOPs per image (forward + backward ~ 3 forward
//    passes); the median of those runs, divided by this run's work per image;
//  - catalogue: the instance's relative_speed x kReferenceGflopsPerSecond (what an H100,
//    relative_speed 1.0, sustains on YOLO training: far below its peak, since YOLO's
//    small convolutions and the data pipeline bound it) / (3 x GFLOPs per image).
// An epoch trains every train image once and validates every val image (a forward pass
// only: a third of the work); several GPUs scale at kMultiGpuEfficiency; a run pays
// kStartupSeconds once (data, model, first batches). Timed training (time=) lasts what
// it says. These are estimates, shown as such; the hold and the credit limit, not the
// estimate, bound what a job may spend.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "accounting/instance_catalog.h"

namespace shrike::scheduler {

inline constexpr double kReferenceGflopsPerSecond = 25000;  // effective, relative_speed 1.0
inline constexpr double kMultiGpuEfficiency = 0.9;
inline constexpr double kStartupSeconds = 60;

// One past run, measured.
struct ThroughputSample {
  std::string run;               // its folder, for the plan
  std::string instance;
  double images_per_second = 0;  // per GPU (per process)
  double gflops_per_image = 0;   // forward GFLOPs at the run's imgsz
};

struct EstimateInput {
  std::size_t train_images = 0, val_images = 0;
  int epochs = 100;
  double time_hours = 0;         // > 0: timed training
  int gpus = 1;
  double gflops_per_image = 0;   // forward GFLOPs at this run's imgsz
  int imgsz = 640;
  const accounting::InstanceType* instance = nullptr;
  double credits_per_gpu_hour = 0;
  double money_per_gpu_hour = 0;
  std::string currency = "USD";
  std::vector<ThroughputSample> past;  // any instance; those on `instance` are used
};

struct RunEstimate {
  bool measured = false;                  // from past runs (else the catalogue)
  double images_per_second_per_gpu = 0;
  double epoch_seconds = 0;
  int epochs = 0;                         // planned (timed training: what fits)
  double total_seconds = 0;
  double gpu_hours = 0;
  double credits = 0, money = 0;
  std::vector<std::string> arithmetic;    // the plan's lines, in order
};

RunEstimate estimate_run(const EstimateInput& input);

// The Slurm time limit in minutes: `requested_hours` (--time) when given, else the
// estimate x margin; never below min_minutes plus the signal lead, rounded up.
int time_limit_minutes(double estimate_seconds, double requested_hours, double margin, int min_minutes,
                       int signal_lead_seconds);

// "1h02m", "3m05s", "12s".
std::string duration_text(double seconds);

}  // namespace shrike::scheduler
