// pipeline/cli/cmd_val.cpp: `shrike val WEIGHTS --data DATA [key=value ...]`: the
// trainer's validator, standalone: metrics of a weights or checkpoint file (its EMA
// weights) on a shard folder or data.yaml split. Under mpirun or srun the ranks split
// the batches and rank 0 prints the merged metrics (the same as one process's).
#include <fmt/core.h>
#include <omp.h>

#include <nlohmann/json.hpp>

#include "pipeline/cli/command_table.h"
#include "pipeline/cli/resume_dispatch.h"
#include "pipeline/core/error.h"
#include "pipeline/core/ordered_parallel.h"
#include "pipeline/data/batch_loader.h"
#include "pipeline/dist/communicator.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/train/experiment.h"
#include "pipeline/train/training_inputs.h"
#include "pipeline/train/validator.h"

namespace shrike::cli {

namespace {

void print_val_help() {
  fmt::print(
      "usage: shrike val WEIGHTS --data DATA [imgsz=S] [batch=B] [conf=C] [iou=I] [max_det=N] [split=val] [--json]\n"
      "       mpirun -np N shrike val ...   (the ranks split the batches; rank 0 prints)\n\n"
      "Validate a weights or checkpoint file (a checkpoint's EMA weights) as the trainer does\n"
      "every epoch: rectangular letterboxed batches, NMS, mAP50, mAP50-95, P and R at the\n"
      "best F1, per-class table. DATA is a shard folder or a data.yaml.\n\n"
      "Example:\n  shrike val runs/detect/exp/weights/best.h5 --data shards/coco128 imgsz=640\n");
}

}  // namespace

int run_val(const Args& args) {
  std::string weights, data, split = "val";
  bool as_json = false;
  std::vector<std::string> overrides;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      print_val_help();
      return 0;
    }
    if (arg == "--data" && i + 1 < args.size()) {
      data = args[++i];
    } else if (arg == "--json") {
      as_json = true;
    } else if (arg.rfind("split=", 0) == 0) {
      split = arg.substr(6);
    } else if (arg.find('=') != std::string::npos) {
      overrides.push_back(arg);
    } else if (weights.empty()) {
      weights = arg;
    } else {
      fail_user("shrike val: unexpected argument '{}'. Run `shrike val --help`.", arg);
    }
  }
  if (weights.empty() || data.empty()) fail_user("shrike val needs WEIGHTS and --data DATA. Run `shrike val --help`.");
  dist::MpiContext context(nullptr, nullptr);
  omp_set_num_threads(context.threads());
  std::unique_ptr<dist::Communicator> comm;
  if (context.world() > 1) comm = dist::make_mpi_communicator(context, 600.0);
  model::LoadedModel loaded = model::load_model(weights);
  overrides.push_back("data=" + data);
  if (loaded.weights) overrides.insert(overrides.begin(), "imgsz=" + std::to_string(loaded.weights->imgsz));
  train::Experiment experiment = train::Experiment::load("", overrides);
  train::TrainingData shards = train::open_training_data(experiment, [&context](const std::string& line) {
    if (context.is_root()) fmt::print("{}\n", line);
  });
  data::ShardSet set(shards.shard_dir, split);
  if (static_cast<int>(shards.names.size()) != loaded.model->nc()) {
    fail_user("{} predicts {} classes but {} has {}", weights, loaded.model->nc(), data, shards.names.size());
  }
  data::ValLoader loader(set, experiment.integer("imgsz"), experiment.is_set_by_user("batch") ? experiment.integer("batch") : 32,
                         32, static_cast<unsigned>(context.threads()));
  train::ValidationSettings settings;
  settings.conf = static_cast<float>(experiment.number("conf"));
  settings.iou = experiment.number("iou");
  settings.max_det = experiment.integer("max_det");
  train::ValidationResult result = train::run_validation(*loaded.model, loader, settings, comm.get());
  if (!context.is_root()) return 0;
  if (as_json) {
    const train::MetricsResult& m = result.metrics;
    fmt::print("{}\n", nlohmann::json{{"precision", m.precision}, {"recall", m.recall}, {"mAP50", m.map50},
                                      {"mAP50-95", m.map50_95}, {"fitness", m.fitness}, {"images", result.images},
                                      {"box_loss", result.box_loss}, {"cls_loss", result.cls_loss},
                                      {"dfl_loss", result.dfl_loss},
                                      {"seconds", result.seconds}}.dump());
  } else {
    fmt::print("{}", train::format_class_table(result.metrics, shards.names, true));
    fmt::print("{} images in {:.1f} s; val losses box {:.4f} cls {:.4f} dfl {:.4f}\n", result.images, result.seconds,
               result.box_loss, result.cls_loss, result.dfl_loss);
  }
  return 0;
}

int run_resume(const Args& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    fmt::print("usage: shrike resume RUN_DIR [key=value ...] [--local]\n"
               "       shrike resume JOB|RUN_DIR --submit [--dry-run]\n\n"
               "Continue a stopped, preempted or paused run exactly where its last checkpoint left\n"
               "it (same epoch, batch, optimizer state, EMA and data order), in the foreground,\n"
               "appending to the same run folder. Same as `shrike train resume=RUN_DIR`.\n"
               "With --submit, a Slurm job id, or a run that was submitted to Slurm (the job registry\n"
               "says so), the run is resubmitted instead, after the checks of `shrike submit` (policy,\n"
               "credits), with its last job's instance and GPUs; --local resumes here regardless.\n");
    return args.empty() ? 1 : 0;
  }
  if (resume_goes_to_slurm(args)) return resume_through_slurm(args);
  const Args local = without_local_flag(args);
  if (local.empty()) fail_user("shrike resume needs RUN_DIR. Run `shrike resume --help`.");
  Args forwarded{"resume=" + local[0]};
  forwarded.insert(forwarded.end(), local.begin() + 1, local.end());
  return run_train(forwarded);
}

}  // namespace shrike::cli
