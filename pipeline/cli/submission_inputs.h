// pipeline/cli/submission_inputs.h
//
// What `shrike submit` learns from an experiment before it plans a Slurm job (the
// scheduler never includes training code, so the command line layer reads the
// experiment, the data and the model and hands plain numbers to scheduler/):
//  - the experiment, with every path made absolute (a job starts in another folder,
//    possibly on another machine): data, model when it is a file, cache, project;
//  - the workload: train and val image counts (the shard manifest, or the data.yaml's
//    listing) and the model's forward GFLOPs (model info), which validates both;
//  - sweeps: `--sweep key=v1,v2` expanded to every combination, each with its run name;
//  - measured throughput of the user's past runs (their metrics.jsonl), by instance type.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/train/experiment.h"
#include "scheduler/job_registry.h"
#include "scheduler/run_estimate.h"

namespace shrike::cli {

// EXPERIMENT.yaml (may be empty) with key=value overrides, paths made absolute.
train::Experiment load_submission_experiment(const std::string& file, const std::vector<std::string>& overrides);
// Makes the path-valued keys of `experiment` absolute against the current folder.
void make_paths_absolute(train::Experiment& experiment);

struct TrainingWorkload {
  std::size_t train_images = 0, val_images = 0;
  std::string data_source;        // "shard manifest DIR" or "data.yaml FILE (listed)"
  double gflops_640 = 0;          // forward GFLOPs of one image at 640
  double gflops_per_image = 0;    // at the experiment's imgsz
};

// Reads the data's image counts and builds the model once for its GFLOPs. Throws
// UserError (from the data and model readers) when either is unusable.
TrainingWorkload measure_workload(const train::Experiment& experiment);

// One combination of a sweep: the settings it overrides and the run-name suffix.
struct SweepPoint {
  std::vector<std::pair<std::string, std::string>> settings;
  std::string name_suffix;  // "-lr0-0.01-batch-32"; empty without sweeps
};

// `key=v1,v2` specs -> their cartesian product (one point with no settings when there
// are no specs). Keys and values are checked against the experiment's key table.
std::vector<SweepPoint> expand_sweeps(const std::vector<std::string>& specs);

// Images/s per GPU of the user's past shrike jobs (newest 20 per instance type), from
// their run folders' metrics.jsonl.
std::vector<scheduler::ThroughputSample> past_throughput(const scheduler::JobRegistry& registry);

}  // namespace shrike::cli
