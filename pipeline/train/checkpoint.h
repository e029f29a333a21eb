// pipeline/train/checkpoint.h
//
// Training checkpoints (DESIGN.md § File contracts): one HDF5 file with
//   /model/<name>                      the training weights (the weights contract)
//   /ema/<name>                        the EMA weights (what val/export/predict load)
//   /optimizer/<state>/<param name>    SGD momentum_buffer, or Adam exp_avg/exp_avg_sq
// and root attributes: the weights attributes (nc, names, model_yaml, imgsz, stride),
// optimizer (kind), optimizer_steps, epoch, updates (EMA counter), best_fitness,
// iteration, seed (the sampler and augmentation RNG are pure functions of seed,
// epoch and sample index, so these restore them exactly), config (the resolved
// experiment YAML), metrics (JSON), created, shrike_version, git_commit.
// Written to a temporary name, fsynced and renamed: killing the process at any
// instant leaves the previous checkpoint intact and loadable.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "pipeline/model/param_store.h"
#include "pipeline/model/weights_file.h"
#include "pipeline/train/ema.h"
#include "pipeline/train/optimizer.h"

namespace shrike::train {

struct TrainingProgress {
  int epoch = -1;                  // last completed epoch (0-based); -1 before the first
  std::int64_t iteration = 0;      // batches seen since the start (the schedule's ni)
  double best_fitness = 0;
  std::uint64_t seed = 0;
  std::string config_yaml;         // the resolved experiment
  std::string metrics_json = "{}"; // the last epoch's metrics
  // Where a mid-epoch checkpoint (on a signal, a time or credit limit) stopped, so that
  // resuming continues exactly: the epoch in progress and its next batch, the
  // optimizer-step gate, the running loss sums and the epochs planned (time=).
  std::string loop_json = "{}";
};

// Writes the checkpoint; `ema` and `optimizer` may be null (then their groups are absent).
// `accumulated_grads` (trainable order) is saved when a gradient accumulation is in
// progress (a mid-epoch checkpoint between optimizer steps).
void write_checkpoint(const std::filesystem::path& path, const model::ParamStore& model, const ModelEma* ema,
                      const Optimizer* optimizer, const model::WeightsInfo& info, const TrainingProgress& progress,
                      std::span<const float> accumulated_grads = {});

struct CheckpointContents {
  TrainingProgress progress;
  bool has_ema = false;
  bool has_optimizer = false;
  bool has_accumulated_grads = false;  // then `model`'s gradient buffer was restored too
  std::string optimizer_kind;
};

// Restores `model` (and `ema`, `optimizer` when given and present in the file). A
// checkpoint of another architecture or class count is a UserError naming the first
// mismatching tensor; another optimizer kind is a UserError too.
CheckpointContents read_checkpoint(const std::filesystem::path& path, model::ParamStore& model, ModelEma* ema,
                                   Optimizer* optimizer);

// The resolved experiment stored in a checkpoint ("" for a plain weights file).
std::string read_checkpoint_config(const std::filesystem::path& path);

}  // namespace shrike::train
