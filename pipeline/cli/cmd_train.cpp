// pipeline/cli/cmd_train.cpp: `shrike train [EXPERIMENT.yaml] [key=value ...]`.
#include <fmt/core.h>

#include <omp.h>

#include <iostream>
#include <memory>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/dist/communicator.h"
#include "pipeline/train/experiment.h"
#include "pipeline/train/trainer.h"

namespace shrike::cli {

namespace {

void print_train_help() {
  train::Experiment defaults;
  fmt::print(
      "usage: shrike train [EXPERIMENT.yaml] [key=value ...]\n\n"
      "Train a YOLO detector. Settings use the reference trainer's key names and defaults;\n"
      "an experiment file sets any of them and key=value arguments override it:\n"
      "  shrike train model=yolov8n.yaml data=shards/coco128 epochs=3 imgsz=320\n"
      "  shrike train configs/experiments/quickstart.yaml epochs=5\n"
      "  shrike train resume=runs/detect/exp          (continue a stopped run exactly)\n\n"
      "data is a shard folder (shrike shard) or a data.yaml (sharded once into a cache);\n"
      "model is a model YAML (from scratch) or a weights/checkpoint file (base model).\n"
      "Results go to runs/<project>/<name>/ (config.yaml, results.csv, metrics.jsonl,\n"
      "TensorBoard events, results.svg, weights/last.h5 and best.h5, status.json, usage.json).\n\n"
      "exit codes: 0 completed, 1 bad input, 2 internal error, 3 paused (credit limit),\n"
      "            4 stopped (SIGTERM/SIGINT), 5 preempted (SIGUSR1); a checkpoint is saved first.\n\n"
      "keys (default):\n");
  for (const auto& [key, help] : train::Experiment::known_keys()) {
    fmt::print("  {:<16} {:<14} {}\n", key, defaults.text(key).empty() ? "\"\"" : defaults.text(key), help);
  }
}

}  // namespace

int run_train(const Args& args) {
  std::string file;
  std::vector<std::string> overrides;
  for (const std::string& arg : args) {
    if (arg == "-h" || arg == "--help") {
      print_train_help();
      return 0;
    }
    if (arg.find('=') != std::string::npos) {
      overrides.push_back(arg);
    } else if (file.empty()) {
      file = arg;
    } else {
      fail_user("shrike train takes one experiment file; '{}' is a second one (settings are key=value)", arg);
    }
  }
  train::Experiment experiment = train::Experiment::load(file, overrides);
  // Under mpirun or srun every rank runs this; alone, MPI starts as a one-rank world.
  dist::MpiContext context(nullptr, nullptr);
  omp_set_num_threads(context.threads());
  std::unique_ptr<dist::Communicator> comm;
  if (context.world() > 1) comm = dist::make_mpi_communicator(context, 120.0);
  train::TrainOutcome outcome = train::run_training(experiment, comm.get(), &context);
  return outcome.exit_code;
}

}  // namespace shrike::cli
