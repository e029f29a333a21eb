// pipeline/train/trainer_epoch.cpp: the end of an epoch (validation of the EMA
// weights, fitness and best, checkpoints, results.csv, metrics.jsonl, TensorBoard,
// results.svg, patience and the time re-plan) and checkpoint writing.
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "pipeline/core/error.h"
#include "pipeline/train/results_plot.h"
#include "pipeline/train/system_stats.h"
#include "pipeline/train/trainer_state.h"
#include "pipeline/train/validator.h"

namespace shrike::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {
constexpr double kProgressRecordSeconds = 10.0;  // metrics.jsonl "train" records
// How long ranks wait for rank 0's validation and checkpoint at an epoch's end (a
// dead rank 0 is caught sooner: mpirun and srun --kill-on-bad-exit end the job).
constexpr double kValidationTimeoutSeconds = 6 * 3600.0;
}

double Trainer::segment_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - segment_start_).count();
}

model::WeightsInfo Trainer::weights_info() const {
  return {static_cast<int>(data_.names.size()), data_.names, model_.model_yaml, experiment_.integer("imgsz"),
          model_.model->strides()};
}

std::optional<ValidationResult> Trainer::validate_ema() {
  if (!val_loader_) return std::nullopt;
  if (device_) device_->sync_ema_to_host();  // the EMA the validator reads
  model::ParamStore& target = eval_model_->params();
  std::copy(ema_->float_state().begin(), ema_->float_state().end(), target.float_state().begin());
  std::copy(ema_->counters().begin(), ema_->counters().end(), target.counters().begin());
  if (world() > 1) {  // rank 0's EMA is the model (BatchNorm statistics are per rank without sync_bn)
    comm_->broadcast(target.float_state().data(), target.float_state().size() * sizeof(float), 0);
    comm_->broadcast(target.counters().data(), target.counters().size() * sizeof(std::int64_t), 0);
  }
  ValidationSettings settings;
  if (eval_device_) {
    eval_device_->sync_from_host();  // the EMA weights just copied into the eval model
    settings.device = eval_device_.get();
  }
  settings.conf = static_cast<float>(experiment_.number("conf"));
  settings.iou = experiment_.number("iou");
  settings.max_det = experiment_.integer("max_det");
  return run_validation(*eval_model_, *val_loader_, settings, world() > 1 ? comm_ : nullptr);
}

void Trainer::save_checkpoint(const fs::path& path, bool mid_epoch) {
  if (device_) device_->sync_to_host();  // weights, EMA, optimizer state, gradients in progress
  TrainingProgress progress;
  progress.seed = static_cast<std::uint64_t>(experiment_.integer("seed"));
  progress.config_yaml = experiment_.to_yaml();
  progress.best_fitness = loop_.best_fitness;
  LoopState state = loop_;
  state.train_seconds_before = loop_.train_seconds_before + segment_seconds();
  if (!mid_epoch) {  // the epoch is done: a resume starts the next one
    state.epoch = loop_.epoch + 1;
    state.next_batch = 0;
    state.reset_epoch_losses();
  }
  progress.epoch = mid_epoch ? loop_.epoch - 1 : loop_.epoch;
  progress.iteration = loop_.iteration;
  progress.loop_json = state.to_json(gate_.last_opt_step()).dump();
  const bool accumulating = mid_epoch && gate_.last_opt_step() < loop_.iteration - 1;
  write_checkpoint(path, params(), ema_.get(), optimizer_.get(), weights_info(), progress,
                   accumulating ? std::span<const float>(params().grads()) : std::span<const float>());
  folder().update_segment_end();
  folder().log_event("checkpoint", {{"path", path.string()}, {"epoch", loop_.epoch}, {"mid_epoch", mid_epoch}});
}

void Trainer::report_progress(int epoch, const data::Batch& batch, const SchedulePoint& point,
                              double images_per_second) {
  const auto now = std::chrono::steady_clock::now();
  const bool last = batch.number + 1 == loader_->batches_per_epoch();
  // Test hook: SHRIKE_PROGRESS_EVERY_ITERATION=1 records every iteration (equivalence tests).
  static const bool every_iteration = std::getenv("SHRIKE_PROGRESS_EVERY_ITERATION") != nullptr;
  if (!last && !every_iteration &&
      std::chrono::duration<double>(now - last_progress_record_).count() < kProgressRecordSeconds) {
    return;
  }
  last_progress_record_ = now;
  folder().append_metrics("train", {{"epoch", epoch + 1},
                                 {"batch", batch.number + 1},
                                 {"batches", loader_->batches_per_epoch()},
                                 {"iteration", loop_.iteration},
                                 {"box_loss", loop_.mean_loss[0]},
                                 {"cls_loss", loop_.mean_loss[1]},
                                 {"dfl_loss", loop_.mean_loss[2]},
                                 {"instances", batch.target_count()},
                                 {"lr", {point.lr[0], point.lr[1], point.lr[2]}},
                                 {"images_per_second", images_per_second},
                                 {"rss_gb", TrainConsole::resident_gb()}});
}

bool Trainer::end_epoch(int epoch, bool time_up) {
  // Every rank validates its share of the batches; rank 0 gathers the statistics,
  // writes the run folder and checkpoints, and the others take its decisions.
  const double step_timeout = world() > 1 ? comm_->timeout() : 0;
  if (world() > 1) comm_->set_timeout(kValidationTimeoutSeconds);  // waits for the slowest validator or rank 0's writes
  std::optional<ValidationResult> validation;
  if (experiment_.flag("val") || epoch + 1 >= loop_.epochs || time_up) validation = validate_ema();
  std::int64_t decision[3] = {0, loop_.epochs, 0};
  if (is_root()) {
    decision[0] = end_epoch_on_root(epoch, time_up, validation) ? 1 : 0;
    decision[1] = loop_.epochs;
  }
  if (world() > 1) {
    comm_->broadcast(decision, sizeof decision, 0);
    comm_->broadcast(&loop_.best_fitness, sizeof loop_.best_fitness, 0);
    comm_->set_timeout(step_timeout);
  }
  loop_.epochs = static_cast<int>(decision[1]);
  schedule_.epochs = loop_.epochs;
  loop_.reset_epoch_losses();
  epoch_comm_ = {};
  epoch_comm_steps_ = 0;
  return decision[0] != 0;
}

bool Trainer::end_epoch_on_root(int epoch, bool time_up, const std::optional<ValidationResult>& validation) {
  const int epochs = loop_.epochs;
  bool final_epoch = epoch + 1 >= epochs || time_up;
  // Fitness: 0.1 mAP50 + 0.9 mAP50-95 when validated (the reference uses -loss otherwise).
  const double fitness = validation ? validation->metrics.fitness
                                    : -(loop_.mean_loss[0] + loop_.mean_loss[1] + loop_.mean_loss[2]);
  const bool improved = !loop_.has_best || fitness >= loop_.best_fitness;
  if (improved) {
    loop_.best_fitness = fitness;
    loop_.best_epoch = epoch;
    loop_.has_best = true;
  }
  ResultsRow row;
  row.epoch = epoch + 1;
  row.time = loop_.train_seconds_before + segment_seconds();
  row.train_box_loss = loop_.mean_loss[0];
  row.train_cls_loss = loop_.mean_loss[1];
  row.train_dfl_loss = loop_.mean_loss[2];
  row.lr_pg0 = optimizer_->group(0).lr;
  row.lr_pg1 = optimizer_->group(1).lr;
  row.lr_pg2 = optimizer_->group(2).lr;
  if (validation) {
    const MetricsResult& m = validation->metrics;
    row.precision = m.precision;
    row.recall = m.recall;
    row.map50 = m.map50;
    row.map50_95 = m.map50_95;
    row.val_box_loss = validation->box_loss;
    row.val_cls_loss = validation->cls_loss;
    row.val_dfl_loss = validation->dfl_loss;
    console_.line(format_class_table(m, data_.names, final_epoch));
  }
  folder().append_results_row(row);
  // Stopping rules: patience (early stop) and the time limit's re-plan.
  const int patience = experiment_.integer("patience");
  const bool stopped_early = patience > 0 && epoch - loop_.best_epoch >= patience;
  if (stopped_early) {
    final_epoch = true;
    loop_.finish_reason = fmt::format("stopped early: no improvement for {} epochs (best epoch {})", patience,
                                      loop_.best_epoch + 1);
  }
  if (budget_.has_time_limit()) {
    const double mean = (loop_.train_seconds_before + segment_seconds()) / static_cast<double>(epoch + 1);
    loop_.epochs = budget_.replan_epochs(epochs, epoch + 1, mean);
    schedule_.epochs = loop_.epochs;
    if (time_up || epoch + 1 >= loop_.epochs) {
      final_epoch = true;
      loop_.finish_reason = fmt::format("time limit of {} hours reached", experiment_.number("time"));
    } else if (!stopped_early) {
      final_epoch = false;  // the re-plan (epochs got faster) leaves time for more than the old plan
    }
  }
  // Checkpoints: last every epoch, best on improvement, epochN with save_period.
  save_checkpoint(folder().weights_dir() / "last.h5", false);
  if (improved) fs::copy_file(folder().weights_dir() / "last.h5", folder().weights_dir() / "best.h5.tmp",
                              fs::copy_options::overwrite_existing);
  if (improved) fs::rename(folder().weights_dir() / "best.h5.tmp", folder().weights_dir() / "best.h5");
  const int period = experiment_.integer("save_period");
  if (period > 0 && (epoch + 1) % period == 0) {
    fs::copy_file(folder().weights_dir() / "last.h5", folder().weights_dir() / fmt::format("epoch{}.h5", epoch + 1),
                  fs::copy_options::overwrite_existing);
  }
  json record = {{"epoch", epoch + 1},       {"epochs", loop_.epochs}, {"time", row.time},
                 {"box_loss", row.train_box_loss}, {"cls_loss", row.train_cls_loss}, {"dfl_loss", row.train_dfl_loss},
                 {"lr", {row.lr_pg0, row.lr_pg1, row.lr_pg2}}, {"fitness", fitness}, {"best_epoch", loop_.best_epoch + 1}};
  if (validation) {
    record["precision"] = *row.precision;
    record["recall"] = *row.recall;
    record["mAP50"] = *row.map50;
    record["mAP50-95"] = *row.map50_95;
    record["val_box_loss"] = *row.val_box_loss;
    record["val_cls_loss"] = *row.val_cls_loss;
    record["val_dfl_loss"] = *row.val_dfl_loss;
  }
  if (epoch_comm_steps_ > 0) {  // data parallelism: how much of the all-reduce the backward pass hid
    record["allreduce"] = {{"steps", epoch_comm_steps_},
                           {"wait_seconds", epoch_comm_.wait_seconds},
                           {"megabytes", epoch_comm_.reduced_bytes / 1e6},
                           {"buckets", epoch_comm_.buckets},
                           {"started_during_backward", epoch_comm_.started_during_backward}};
  }
  folder().append_metrics("epoch", record);
  json system_record = host_system_stats();  // the "system" record `shrike monitor` shows
  if (gpu_stats_) system_record.update(gpu_stats_->snapshot_json());
  folder().append_metrics("system", system_record);
  const auto cells = results_row_cells(row);
  for (std::size_t i = 2; i < cells.size(); ++i) {
    if (cells[i]) tensorboard_->add_scalar(std::string(kResultsColumns[i]), static_cast<float>(*cells[i]), epoch + 1);
  }
  tensorboard_->flush();
  write_results_svg(folder().dir() / "results.svg", folder().results());
  folder().set_status(RunState::kRunning, fmt::format("epoch {}/{} done", epoch + 1, loop_.epochs), epoch + 1,
                   static_cast<long>(::getpid()));
  folder().flush_durably();
  return final_epoch;
}

}  // namespace shrike::train
