// pipeline/train/trainer_setup.cpp: building a run (data, model, optimizer, loaders,
// run folder) or restoring one from its checkpoint.
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "build_info.h"
#include "kernels/device.h"
#include "pipeline/core/error.h"
#include "pipeline/core/ordered_parallel.h"
#include "pipeline/dist/nccl_communicator.h"
#include "pipeline/train/trainer_state.h"

namespace shrike::train {

namespace fs = std::filesystem;
using nlohmann::json;

void LoopState::add_loss(const StepLoss& loss) {
  const double items[3] = {loss.box, loss.cls, loss.dfl};
  ++loss_count;
  for (int i = 0; i < 3; ++i) {
    loss_sum[i] += items[i];
    mean_loss[i] = loss_sum[i] / static_cast<double>(loss_count);
  }
}

void LoopState::reset_epoch_losses() {
  for (int i = 0; i < 3; ++i) loss_sum[i] = mean_loss[i] = 0;
  loss_count = 0;
}

json LoopState::to_json(std::int64_t last_opt_step) const {
  return {{"epoch", epoch},
          {"epochs", epochs},
          {"next_batch", next_batch},
          {"iteration", iteration},
          {"loss_sum", {loss_sum[0], loss_sum[1], loss_sum[2]}},
          {"loss_count", loss_count},
          {"best_fitness", best_fitness},
          {"has_best", has_best},
          {"best_epoch", best_epoch},
          {"train_seconds", train_seconds_before},
          {"last_opt_step", last_opt_step}};
}

std::int64_t LoopState::from_json(const json& loop) {
  epoch = loop.at("epoch");
  epochs = loop.at("epochs");
  next_batch = loop.at("next_batch");
  iteration = loop.at("iteration");
  for (int i = 0; i < 3; ++i) loss_sum[i] = loop.at("loss_sum").at(static_cast<std::size_t>(i));
  loss_count = loop.at("loss_count");
  for (int i = 0; i < 3; ++i) mean_loss[i] = loss_count ? loss_sum[i] / static_cast<double>(loss_count) : 0.0;
  best_fitness = loop.at("best_fitness");
  has_best = loop.at("has_best");
  best_epoch = loop.at("best_epoch");
  train_seconds_before = loop.at("train_seconds");
  return loop.at("last_opt_step");
}

namespace {

// The GPUs this run is billed for: SHRIKE_BILLED_GPUS (set by the batch script of
// `shrike submit` to the GPUs Slurm allocated, also when the trainer falls back to CPU),
// else one per process.
int billed_devices(int world) {
  const char* text = std::getenv("SHRIKE_BILLED_GPUS");
  const int billed = text != nullptr ? std::atoi(text) : 0;
  return billed > 0 ? billed : world;
}

std::string current_user() {
  if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr && entry->pw_name != nullptr) return entry->pw_name;
  const char* user = std::getenv("USER");
  return user != nullptr ? user : "unknown";
}

}  // namespace

Trainer::Trainer(const Experiment& experiment, const fs::path& resume_from, dist::Communicator* comm,
                 const dist::MpiContext* mpi)
    : experiment_(experiment), comm_(comm), mpi_(mpi) {
  const bool resuming = !resume_from.empty();
  console_.set_silent(!is_root());
  const int batch = experiment_.integer("batch");
  if (batch % world() != 0) {
    fail_user("batch={} does not divide among {} ranks: use a multiple of {} (each rank takes batch / ranks)", batch,
              world(), world());
  }
  setup_model_and_data();
  setup_optimizer();
  loop_.epochs = experiment_.integer("epochs");
  if (resuming) restore(resume_from);
  if (world() > 1 && experiment_.flag("sync_bn")) {  // BatchNorm statistics of the global batch
    model().set_batch_stats_reducer({[this](double* values, std::size_t count) {
                                       comm_->all_reduce(values, count, dist::DataType::kFloat64, dist::ReduceOp::kSum);
                                     },
                                     world()});
  }
  if (world() > 1) {  // every rank starts from rank 0's state (the same seed makes it so; this makes sure)
    comm_->broadcast(params().float_state().data(), params().float_state().size() * sizeof(float), 0);
    comm_->broadcast(params().counters().data(), params().counters().size() * sizeof(std::int64_t), 0);
  }
  setup_device();
  if (world() > 1) setup_gradient_buckets();
  if (is_root()) setup_run_folder(resuming);
  if (world() > 1) share_run_folder_path();
}

void Trainer::setup_device() {
  const int device = device_index_;
  if (device < 0) return;
  device_ = make_cuda_training(device, model(), optimizer_.get(), ema_.get(), experiment_.flag("amp"));
  eval_device_ = make_cuda_training(device, *eval_model_, nullptr, nullptr, experiment_.flag("amp"),
                                    /*gradients=*/false);
  if (world() > 1) {
    if (mpi_ == nullptr) fail_internal("GPU data parallelism without the MPI context");
    nccl_ = dist::make_nccl_communicator(*mpi_, *comm_, device, comm_->timeout());
    device_->set_communicators(nccl_.get(), comm_, experiment_.integer("batch"), experiment_.flag("sync_bn"));
  }
  console_.line(fmt::format("training on {}", device_->description()));
  if (is_root()) {
    gpu_stats_ = std::make_unique<GpuStatsSampler>();
    if (!gpu_stats_->start(device_->device_uuid())) {
      console_.line(fmt::format("note: no GPU system stats: {}", gpu_stats_->unavailable_reason()));
      gpu_stats_.reset();
    }
  }
}

void Trainer::share_run_folder_path() {
  // The other ranks log their own failures to the run's train.log, tagged with their rank.
  std::string path = is_root() ? folder().dir().string() : std::string();
  std::uint64_t length = path.size();
  comm_->broadcast(&length, sizeof length, 0);
  path.resize(length);
  comm_->broadcast(path.data(), length, 0);
  if (!is_root()) rank_log_ = std::filesystem::path(path) / "train.log";
}

void Trainer::setup_gradient_buckets() {
  const double bucket_mb = experiment_.number("bucket_mb");
  if (bucket_mb <= 0) return;  // one all-reduce of the whole buffer after backward
  if (!device_ && !experiment_.is_set_by_user("bucket_mb") && comm_->local_world() == world()) {
    // One node, CPU: the ranks share the cores, so there is no idle engine to hide the
    // all-reduce behind; overlapping measured 5-10 % slower per epoch (bench/RESULTS.md).
    console_.line(fmt::format("data parallel: {} ranks on one node; gradients all-reduced after backward "
                              "(bucket_mb=4 overlaps them with it)", world()));
    return;
  }
  std::vector<dist::GradientSlice> slices;
  for (const model::TensorEntry& entry : params().entries()) {
    slices.push_back(model::is_trainable(entry.role) ? dist::GradientSlice{entry.offset, entry.numel}
                                                     : dist::GradientSlice{});
  }
  // On GPUs the buckets are NCCL all-reduces of the device gradient buffer, each queued
  // behind the backward kernels that wrote it (the communicator's producer stream).
  dist::Communicator& comm = device_ ? *nccl_ : *comm_;
  const std::span<float> grads = device_ ? device_->device_gradients() : params().grads();
  buckets_ = std::make_unique<dist::GradientBuckets>(comm, grads, std::move(slices),
                                                     static_cast<std::size_t>(bucket_mb * 1024 * 1024));
  auto ready = [this](int param) { buckets_->on_gradient_ready(param); };
  if (device_) {
    device_->set_grad_ready_listener(ready);
  } else {
    model().set_grad_ready_listener(ready);
  }
  console_.line(fmt::format("data parallel: {} ranks; gradients in {} buckets of about {} MiB, all-reduced during "
                            "backward", world(), buckets_->bucket_count(), bucket_mb));
}

void Trainer::setup_model_and_data() {
  auto log = [this](const std::string& line) { console_.line(line); };
  data_ = open_training_data(experiment_, log);
  const int nc = static_cast<int>(data_.names.size());
  const auto seed = static_cast<std::uint64_t>(experiment_.integer("seed"));
  model_ = build_training_model(experiment_, nc, seed);
  if (!model_.note.empty()) console_.line(model_.note);
  eval_model_ = std::make_unique<model::Model>(model_.model->spec());
  ema_ = std::make_unique<ModelEma>(params());

  const int batch = experiment_.integer("batch");
  const int imgsz = experiment_.integer("imgsz");
  data::TrainLoaderOptions options;
  options.augment.imgsz = imgsz;
  for (auto [field, key] : std::initializer_list<std::pair<double*, const char*>>{
           {&options.augment.hsv_h, "hsv_h"}, {&options.augment.hsv_s, "hsv_s"}, {&options.augment.hsv_v, "hsv_v"},
           {&options.augment.degrees, "degrees"}, {&options.augment.translate, "translate"},
           {&options.augment.scale, "scale"}, {&options.augment.shear, "shear"},
           {&options.augment.perspective, "perspective"}, {&options.augment.flipud, "flipud"},
           {&options.augment.fliplr, "fliplr"}, {&options.augment.mosaic, "mosaic"}, {&options.augment.mixup, "mixup"}}) {
    *field = experiment_.number(key);
  }
  options.batch = batch / world();  // per rank; the global batch is split across ranks
  options.rank = comm_ != nullptr ? comm_->rank() : 0;
  options.world = world();
  options.epochs = experiment_.integer("epochs");
  options.close_mosaic = experiment_.integer("close_mosaic");
  options.seed = seed;
  const unsigned cores = available_cores();
  options.workers = std::max(1u, std::min(static_cast<unsigned>(experiment_.integer("workers")), cores));
  // On a GPU the workers only decode and load-resize; the pixel work runs on the device.
  device_index_ = resolve_device(experiment_.text("device"), mpi_ != nullptr ? mpi_->local_rank() : 0);
  options.recipes_only = device_index_ >= 0 && experiment_.flag("gpu_augment");
  loader_ = std::make_unique<data::TrainLoader>(*data_.train, options);
  if (data_.val) {
    val_loader_ = std::make_unique<data::ValLoader>(*data_.val, imgsz, batch * 2, 32, options.workers);
  } else if (experiment_.flag("val")) {
    console_.line("note: the shards have no 'val' split; training without validation (val=False)");
    experiment_.set("val", "false", "no val split");
  }
}

void Trainer::setup_optimizer() {
  OptimizerSettings settings;
  settings.optimizer = experiment_.text("optimizer");
  settings.lr0 = experiment_.number("lr0");
  settings.momentum = experiment_.number("momentum");
  settings.weight_decay = experiment_.number("weight_decay");
  settings.warmup_bias_lr = experiment_.number("warmup_bias_lr");
  settings.batch = experiment_.integer("batch");
  settings.nbs = experiment_.integer("nbs");
  settings.num_train_images = static_cast<std::int64_t>(data_.train->size());
  settings.epochs = experiment_.integer("epochs");
  settings.nc = static_cast<int>(data_.names.size());
  const ResolvedOptimizer resolved = resolve_optimizer(settings);
  if (!resolved.note.empty()) console_.line(resolved.note);
  optimizer_ = std::make_unique<Optimizer>(params(), resolved);
  schedule_.epochs = experiment_.integer("epochs");
  schedule_.batches_per_epoch = static_cast<std::int64_t>(loader_->batches_per_epoch());
  schedule_.batch = settings.batch;
  schedule_.nbs = settings.nbs;
  schedule_.lr0 = resolved.lr;
  schedule_.lrf = experiment_.number("lrf");
  schedule_.cos_lr = experiment_.flag("cos_lr");
  schedule_.warmup_epochs = experiment_.number("warmup_epochs");
  schedule_.warmup_bias_lr = resolved.warmup_bias_lr;
  schedule_.warmup_momentum = experiment_.number("warmup_momentum");
  schedule_.momentum = experiment_.number("momentum");
  schedule_.optimizer_momentum = resolved.momentum;
  BudgetSettings budget;
  budget.time_hours = experiment_.number("time");
  budget.credit_limit = experiment_.number("credit_limit");
  budget.rate_per_hour = experiment_.number("rate");
  budget.devices = billed_devices(world());  // the GPUs (or CPU processes) usage.json bills
  budget_ = RunBudget(budget);
}

void Trainer::restore(const fs::path& checkpoint) {
  CheckpointContents contents = read_checkpoint(checkpoint, params(), ema_.get(), optimizer_.get());
  const json loop = json::parse(contents.progress.loop_json);
  if (loop.empty()) fail_user("{} has no loop state: it was not written by `shrike train`", checkpoint.string());
  gate_ = OptimizerStepGate(loop_.from_json(loop));
  schedule_.epochs = loop_.epochs;
  double device_seconds_before = 0;
  if (is_root()) {
    run_folder_.emplace(RunFolder::open_existing(checkpoint.parent_path().parent_path()));
    folder().keep_results_through(loop_.epoch);
    // Credits already spent by the run's earlier segments count against its limit.
    for (const UsageSegment& segment : folder().usage().segments) {  // device-seconds
      device_seconds_before += std::chrono::duration<double>(segment.end - segment.start).count() *
                        segment.gpus.value_or(folder().usage().identity.gpus);
    }
  }
  const double rate = experiment_.number("rate");
  budget_ = RunBudget(BudgetSettings{experiment_.number("time"), experiment_.number("credit_limit"), rate,
                                     billed_devices(world()),
                                     device_seconds_before / 3600.0 * rate});
  console_.line(fmt::format("resuming from {}: epoch {}, batch {}, {} optimizer steps", checkpoint.string(),
                            loop_.epoch + 1, loop_.next_batch, optimizer_->step_count()));
}

void Trainer::setup_run_folder(bool resuming) {
  if (!resuming) {
    run_folder_.emplace(RunFolder::create(experiment_.text("project"), experiment_.text("name"),
                                          experiment_.flag("exist_ok")));
  }
  folder().write_config(experiment_.to_yaml());
  RunProvenance provenance;
  provenance.shard_manifest_sha256 = data_.source_fingerprint;
  provenance.devices = {device_ ? device_->description() : std::string("cpu")};
  provenance.world_size = world();
  folder().write_provenance(provenance);
  UsageIdentity identity;
  identity.account = experiment_.text("account").empty() ? current_user() : experiment_.text("account");
  identity.user = current_user();
  identity.project = folder().project_name();
  identity.run = folder().name();
  if (const char* job = std::getenv("SLURM_JOB_ID")) identity.job_id = job;
  identity.instance = experiment_.text("instance");
  identity.gpus = billed_devices(world());  // processes billed (GPUs under the CUDA backend)
  if (const char* cluster = std::getenv("SLURM_CLUSTER_NAME"); cluster != nullptr && *cluster != '\0') {
    identity.cluster = cluster;
  }
  folder().begin_segment(identity);
  folder().set_status(RunState::kRunning, resuming ? "resumed" : "started", loop_.epoch, static_cast<long>(::getpid()));
  folder().log_event(resuming ? "resume" : "start",
                  {{"epoch", loop_.epoch}, {"shrike_version", kVersion}, {"git_commit", kGitCommit}});
  tensorboard_.emplace(TensorBoardWriter::open(folder().dir()));
  console_.set_log_sink([this](std::string_view line) { folder().append_log_line(line); });
  if (experiment_.text("device") == "auto" && !device_) {
    console_.line("device=auto: no usable GPU, training on CPU");
  }
  console_.line(fmt::format("run folder {}", folder().dir().string()));
}

}  // namespace shrike::train
