// pipeline/train/trainer_state.h
//
// The Trainer's parts, shared by trainer.cpp (the loop), trainer_setup.cpp (building
// or restoring everything) and trainer_epoch.cpp (validation, checkpoints, metrics
// files at the end of an epoch). LoopState is what a checkpoint must carry for a
// resumed run to continue exactly where the loop was.
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "pipeline/data/batch_loader.h"
#include "pipeline/dist/gradient_buckets.h"
#include "pipeline/train/checkpoint.h"
#include "pipeline/train/detect_step.h"
#include "pipeline/train/device_training.h"
#include "pipeline/train/ema.h"
#include "pipeline/train/experiment.h"
#include "pipeline/train/gpu_stats.h"
#include "pipeline/train/lr_schedule.h"
#include "pipeline/train/optimizer.h"
#include "pipeline/train/run_budget.h"
#include "pipeline/train/run_folder.h"
#include "pipeline/train/tensorboard_writer.h"
#include "pipeline/train/train_console.h"
#include "pipeline/train/trainer.h"
#include "pipeline/train/training_inputs.h"
#include "pipeline/train/validator.h"

namespace shrike::train {

// Ordered by urgency: ranks agree on the largest (a signal beats a limit).
enum class StopReason { kNone = 0, kTimeUp = 1, kCredits = 2, kPreempted = 3, kStopped = 4 };

struct LoopState {
  int epoch = 0;                 // the epoch in progress (0-based)
  int epochs = 100;              // planned (re-planned under time=)
  std::size_t next_batch = 0;    // next batch of `epoch` (0 at an epoch start)
  std::int64_t iteration = 0;    // ni of the next batch
  double loss_sum[3] = {0, 0, 0};
  std::size_t loss_count = 0;    // batches in loss_sum this epoch
  double mean_loss[3] = {0, 0, 0};
  double best_fitness = 0;
  bool has_best = false;
  int best_epoch = -1;
  double train_seconds_before = 0;  // training time of earlier segments
  double last_grad_norm = 0;
  std::string finish_reason = "all epochs done";

  void add_loss(const StepLoss& loss);
  void reset_epoch_losses();
  nlohmann::json to_json(std::int64_t last_opt_step) const;
  // Restores from a checkpoint's loop JSON; returns the optimizer gate's last step.
  std::int64_t from_json(const nlohmann::json& loop);
};

class Trainer {
 public:
  Trainer(const Experiment& experiment, const std::filesystem::path& resume_from, dist::Communicator* comm,
          const dist::MpiContext* mpi = nullptr);
  TrainOutcome run();

 private:
  // trainer_setup.cpp
  void setup_model_and_data();
  void setup_optimizer();
  void setup_gradient_buckets();
  void setup_device();  // device=cuda: the GPU step (and NCCL with several ranks)
  void share_run_folder_path();
  // Ranks other than 0: one line to the run's train.log, "[rank R on HOST] TEXT".
  void log_on_this_rank(const std::string& text);
  void setup_run_folder(bool resuming);
  void restore(const std::filesystem::path& checkpoint);
  // trainer.cpp
  StopReason train_epoch(int epoch);
  void optimizer_step();
  StopReason check_stop();
  StopReason local_stop_reason();
  TrainOutcome stop_mid_epoch(StopReason stop);
  TrainOutcome finish();
  // trainer_epoch.cpp
  bool end_epoch(int epoch, bool time_up);  // true when training ends after it
  bool end_epoch_on_root(int epoch, bool time_up, const std::optional<ValidationResult>& validation);
  std::optional<ValidationResult> validate_ema();
  void save_checkpoint(const std::filesystem::path& path, bool mid_epoch);
  void report_progress(int epoch, const data::Batch& batch, const SchedulePoint& point, double images_per_second);
  model::WeightsInfo weights_info() const;
  double segment_seconds() const;

  model::Model& model() { return *model_.model; }
  bool is_root() const { return comm_ == nullptr || comm_->rank() == 0; }
  int world() const { return comm_ == nullptr ? 1 : comm_->world(); }
  // Every rank agrees on a value chosen by rank 0 (or the largest, for stop reasons).
  std::int64_t agree_max(std::int64_t value);
  RunFolder& folder() { return *run_folder_; }
  model::ParamStore& params() { return model_.model->params(); }

  Experiment experiment_;
  dist::Communicator* comm_ = nullptr;
  TrainingData data_;
  TrainingModel model_;
  std::unique_ptr<model::Model> eval_model_;  // holds the EMA weights for validation
  std::unique_ptr<ModelEma> ema_;
  std::unique_ptr<Optimizer> optimizer_;
  ScheduleSettings schedule_;
  OptimizerStepGate gate_;
  std::unique_ptr<data::TrainLoader> loader_;
  std::unique_ptr<data::ValLoader> val_loader_;
  std::optional<RunFolder> run_folder_;
  std::optional<TensorBoardWriter> tensorboard_;
  RunBudget budget_{BudgetSettings{}};
  TrainConsole console_;
  LoopState loop_;
  std::chrono::steady_clock::time_point segment_start_ = std::chrono::steady_clock::now();
  double last_credit_check_ = 0;
  std::chrono::steady_clock::time_point last_progress_record_{};
  // Data parallelism: bucketed all-reduce overlapped with backward (world > 1, bucket_mb > 0).
  std::unique_ptr<dist::GradientBuckets> buckets_;
  dist::BucketStats epoch_comm_{};  // summed over the epoch's optimizer steps
  int epoch_comm_steps_ = 0;
  std::filesystem::path rank_log_;  // train.log, on ranks other than 0
  std::unique_ptr<GpuStatsSampler> gpu_stats_;  // NVML figures for the "system" records (GPU runs, rank 0)
  // device=cuda: the step runs on the GPU; the host objects above are synced before
  // checkpoints and validation. Null on the CPU.
  const dist::MpiContext* mpi_ = nullptr;
  int device_index_ = -1;  // the CUDA device (resolve_device), -1: CPU
  std::unique_ptr<dist::Communicator> nccl_;
  std::unique_ptr<DeviceTraining> device_;
  std::unique_ptr<DeviceTraining> eval_device_;  // the EMA weights' forward pass for validation
};

}  // namespace shrike::train
