// pipeline/train/trainer.cpp: setup, resume, the epoch loop and the stop conditions.
// End-of-epoch work (validation, checkpoints, metrics files) is in trainer_epoch.cpp.
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <fcntl.h>

#include <csignal>
#include <cstdlib>

#include "pipeline/core/error.h"
#include "pipeline/core/interrupt.h"
#include "pipeline/train/trainer_state.h"

namespace shrike::train {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path resume_checkpoint(const Experiment& experiment) {
  const std::string resume = experiment.text("resume");
  if (resume == "false" || resume.empty()) return {};
  fs::path path = (resume == "true") ? fs::path(experiment.text("model")) : fs::path(resume);
  if (fs::is_directory(path)) path = path / "weights" / "last.h5";
  if (!fs::exists(path)) {
    fail_user("resume: {} does not exist. Resume from a run's weights/last.h5 (resume=true model=RUN/weights/last.h5 "
              "or resume=RUN_DIR).", path.string());
  }
  return path;
}

namespace {

// The experiment of a resumed run: the checkpoint's, with the keys that may change
// between segments (device, workers, credit_limit, rate) taken from the command line.
Experiment resumed_experiment(const Experiment& command, const fs::path& checkpoint) {
  const std::string config = read_checkpoint_config(checkpoint);
  if (config.empty()) fail_user("{} holds no training config: it is a weights file, not a checkpoint", checkpoint.string());
  Experiment resumed = Experiment::from_yaml_text(config, checkpoint.string() + " (config)");
  for (const char* key : {"device", "workers", "credit_limit", "rate"}) {
    if (command.is_set_by_user(key)) resumed.set(key, command.text(key), "command line");
  }
  resumed.set("resume", checkpoint.string(), "resume");
  return resumed;
}

}  // namespace

TrainOutcome run_training(const Experiment& command, dist::Communicator* comm, const dist::MpiContext* mpi) {
  const fs::path checkpoint = resume_checkpoint(command);
  const Experiment experiment = checkpoint.empty() ? command : resumed_experiment(command, checkpoint);
  Trainer trainer(experiment, checkpoint, comm, mpi);
  return trainer.run();
}

std::int64_t Trainer::agree_max(std::int64_t value) {
  if (world() > 1) comm_->all_reduce(std::span<std::int64_t>(&value, 1), dist::ReduceOp::kMax);
  return value;
}

void Trainer::log_on_this_rank(const std::string& text) {
  if (rank_log_.empty()) return;
  // O_APPEND: one write per line, so lines of several ranks never interleave mid-line.
  const int fd = ::open(rank_log_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return;  // the run folder is rank 0's; never fail over a log line
  const std::string line = fmt::format("[rank {} on {}] {}\n", comm_->rank(), current_hostname(), text);
  [[maybe_unused]] const ssize_t written = ::write(fd, line.data(), line.size());
  ::close(fd);
}

// --- the loop -----------------------------------------------------------------------

TrainOutcome Trainer::run() {
  install_interrupt_handlers();
  try {
    for (int epoch = loop_.epoch; epoch < loop_.epochs; ++epoch) {
      loop_.epoch = epoch;
      const StopReason stop = train_epoch(epoch);
      if (stop != StopReason::kNone && stop != StopReason::kTimeUp) return stop_mid_epoch(stop);
      const bool last = end_epoch(epoch, stop == StopReason::kTimeUp);
      if (last || stop == StopReason::kTimeUp) break;
    }
    return finish();
  } catch (const std::exception& error) {
    if (!is_root()) log_on_this_rank(fmt::format("error: {}", error.what()));
    if (is_root()) {
      console_.line(fmt::format("error: {}", error.what()));
      folder().set_status(RunState::kFailed, error.what(), loop_.epoch, static_cast<long>(::getpid()));
      folder().log_event("error", {{"message", error.what()}});
      folder().flush_durably();
    }
    if (world() > 1) comm_->abort(error.what());  // no peer may wait on this rank
    throw;
  }
}

StopReason Trainer::train_epoch(int epoch) {
  const std::size_t nb = loader_->batches_per_epoch();
  loader_->start_epoch(epoch, loop_.next_batch);
  console_.line(TrainConsole::header());
  const auto epoch_start = std::chrono::steady_clock::now();
  std::size_t images = 0;
  while (std::optional<data::Batch> batch = loader_->next()) {
    const std::int64_t ni = static_cast<std::int64_t>(batch->number + nb * static_cast<std::size_t>(epoch));
    const SchedulePoint point = schedule_at(ni, epoch, schedule_);
    for (int g = 0; g < kNumGroups; ++g) optimizer_->set_lr(g, point.lr[g]);
    optimizer_->set_momentum(point.momentum);
    // The micro-batch that ends an accumulation reduces its gradients during backward.
    if (buckets_ && optimizer_steps(ni, gate_.last_opt_step(), point.accumulate)) buckets_->begin();
    const StepLoss loss =
        device_ ? (batch->recipes.empty()
                       ? device_->forward_backward(batch->images.data(), batch->shape, batch->targets)
                       : device_->forward_backward_recipes(batch->recipes, batch->shape, batch->targets))
                : detect_forward_backward(model(), batch->images.data(), batch->shape, batch->targets, true,
                                          model::Mode::kTrain, comm_, experiment_.integer("batch"));
    loop_.add_loss(loss);
    if (gate_.after_iteration(ni, point.accumulate)) optimizer_step();
    loop_.next_batch = batch->number + 1;
    loop_.iteration = ni + 1;
    images += static_cast<std::size_t>(batch->shape.n);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    console_.progress(epoch, loop_.epochs, loop_.next_batch, nb, loop_.mean_loss, batch->target_count(),
                      batch->shape.h, seconds > 0 ? images / seconds : 0);
    if (is_root()) report_progress(epoch, *batch, point, images / std::max(seconds, 1e-9));
    if (const StopReason stop = check_stop(); stop != StopReason::kNone) {
      console_.end_epoch();
      return stop;
    }
  }
  console_.end_epoch();
  loop_.next_batch = 0;
  return StopReason::kNone;
}

void Trainer::optimizer_step() {
  // Data parallelism: the gradients (accumulated over this rank's micro-batches) are
  // summed over the ranks once per optimizer step, bucket by bucket during the last
  // micro-batch's backward pass (or in one call when bucket_mb=0); the loss scaling
  // makes the sum the single-process gradient of the global batch.
  const bool bucketed = buckets_ && buckets_->armed();
  if (bucketed) {
    const dist::BucketStats stats = buckets_->finish();
    epoch_comm_.buckets += stats.buckets;
    epoch_comm_.started_during_backward += stats.started_during_backward;
    epoch_comm_.wait_seconds += stats.wait_seconds;
    epoch_comm_.reduced_bytes += stats.reduced_bytes;
    ++epoch_comm_steps_;
  }
  if (device_) {  // (the rest of the all-reduce,) clipping, update and EMA on the GPU
    loop_.last_grad_norm = device_->optimizer_step(10.0, /*reduced=*/bucketed);
    return;
  }
  if (!bucketed && world() > 1) {
    const auto start = std::chrono::steady_clock::now();
    comm_->all_reduce(params().grads(), dist::ReduceOp::kSum);
    epoch_comm_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    epoch_comm_.reduced_bytes += static_cast<double>(params().grads().size_bytes());
    ++epoch_comm_steps_;
  }
  const double norm = clip_grad_norm(params().grads(), 10.0);
  optimizer_->step(params());
  params().zero_grads();
  ema_->update(params());
  loop_.last_grad_norm = norm;
}

StopReason Trainer::check_stop() {
  // Every rank stops at the same iteration: the most urgent local reason wins.
  return static_cast<StopReason>(agree_max(static_cast<std::int64_t>(local_stop_reason())));
}

StopReason Trainer::local_stop_reason() {
  if (interrupt_requested()) return interrupt_signal() == SIGUSR1 ? StopReason::kPreempted : StopReason::kStopped;
  // Test hook: stop as a SIGTERM would, after a given iteration (deterministic resume tests).
  if (const char* at = std::getenv("SHRIKE_STOP_AT_ITERATION"); at != nullptr && loop_.iteration == std::atoll(at)) {
    return StopReason::kStopped;
  }
  const double elapsed = segment_seconds();
  if (budget_.time_is_up(loop_.train_seconds_before + elapsed)) return StopReason::kTimeUp;
  if (budget_.has_credit_limit() && elapsed - last_credit_check_ >= std::min(kCreditCheckSeconds, 5.0)) {
    last_credit_check_ = elapsed;
    // Look ahead one check interval plus a checkpoint, so the pause itself stays in budget.
    if (budget_.should_pause_for_credits(elapsed, kCreditCheckSeconds + 10.0)) return StopReason::kCredits;
  }
  return StopReason::kNone;
}

TrainOutcome Trainer::stop_mid_epoch(StopReason stop) {
  const int code = stop == StopReason::kCredits ? kExitPaused : stop == StopReason::kPreempted ? kExitPreempted : kExitStopped;
  if (!is_root()) return {"", "", code, {}, loop_.best_fitness};
  save_checkpoint(folder().weights_dir() / "last.h5", /*mid_epoch=*/true);
  const char* reason = stop == StopReason::kCredits     ? "credits"
                       : stop == StopReason::kPreempted ? "signal SIGUSR1 (preemption or time limit warning)"
                                                        : "signal (SIGTERM or SIGINT)";
  RunState state = stop == StopReason::kCredits ? RunState::kPaused
                   : stop == StopReason::kPreempted ? RunState::kPreempted
                                                    : RunState::kStopped;
  folder().set_status(state, reason, loop_.epoch, static_cast<long>(::getpid()));
  folder().log_event(stop == StopReason::kCredits ? "pause" : "stop",
                 {{"reason", reason}, {"epoch", loop_.epoch}, {"next_batch", loop_.next_batch}});
  folder().update_segment_end();
  folder().flush_durably();
  console_.line(fmt::format("{}: checkpoint {} saved at epoch {} batch {}; resume with `shrike resume {}`",
                            run_state_name(state), (folder().weights_dir() / "last.h5").string(), loop_.epoch + 1,
                            loop_.next_batch, folder().dir().string()));
  return {std::string(run_state_name(state)), reason, code, folder().dir(), loop_.best_fitness};
}

TrainOutcome Trainer::finish() {
  if (!is_root()) return {"completed", loop_.finish_reason, 0, {}, loop_.best_fitness};
  folder().set_status(RunState::kCompleted, loop_.finish_reason, loop_.epoch + 1, static_cast<long>(::getpid()));
  folder().log_event("finish", {{"reason", loop_.finish_reason}, {"best_fitness", loop_.best_fitness}});
  folder().update_segment_end();
  folder().flush_durably();
  console_.line(fmt::format("{}. Results in {} (best {}, last {})", loop_.finish_reason, folder().dir().string(),
                            (folder().weights_dir() / "best.h5").string(), (folder().weights_dir() / "last.h5").string()));
  return {"completed", loop_.finish_reason, 0, folder().dir(), loop_.best_fitness};
}

}  // namespace shrike::train
