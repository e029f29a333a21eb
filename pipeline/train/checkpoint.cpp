// pipeline/train/checkpoint.cpp: writing and restoring training checkpoints.
#include "pipeline/train/checkpoint.h"

#include "build_info.h"
#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/core/utc_time.h"
#include "pipeline/data/hdf5_check.h"
#include "pipeline/data/shard_manifest.h"

namespace shrike::train {

namespace fs = std::filesystem;
using data::H5Handle;

namespace {

// One dataset per trainable tensor of a buffer in the trainable order.
void write_trainable_group(hid_t file, const char* name, const model::ParamStore& model, std::span<const float> buffer,
                           const std::string& where) {
  H5Handle group(H5_CHECK(H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where));
  for (const model::TensorEntry& e : model.entries()) {
    if (!model::is_trainable(e.role)) continue;
    std::vector<hsize_t> dims(e.shape.begin(), e.shape.end());
    data::write_dataset(group, e.name.c_str(), H5T_IEEE_F32LE, dims, buffer.data() + e.offset, where);
  }
}

void read_trainable_group(const fs::path& path, const std::string& group, const model::ParamStore& model,
                          std::span<float> buffer) {
  model::StateDict state = model::read_state_dict(path, group);
  for (const model::TensorEntry& e : model.entries()) {
    if (!model::is_trainable(e.role)) continue;
    auto found = state.floats.find(e.name);
    if (found == state.floats.end() || found->second.size() != e.numel) {
      fail_user("{}: {} for {} is missing or has the wrong size", path.string(), group, e.name);
    }
    std::copy(found->second.begin(), found->second.end(), buffer.begin() + static_cast<std::ptrdiff_t>(e.offset));
  }
}

void write_optimizer(hid_t file, const model::ParamStore& model, const Optimizer& optimizer, const std::string& where) {
  H5Handle group(H5_CHECK(H5Gcreate2(file, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where));
  for (const std::string& name : optimizer.state_names()) {
    write_trainable_group(group, name.c_str(), model, optimizer.state(name), where);
  }
  data::write_string_attribute(file, "optimizer", optimizer_name(optimizer.kind()), where);
  data::write_int_attribute(file, "optimizer_steps", optimizer.step_count(), where);
}

void write_progress(hid_t file, const TrainingProgress& progress, std::int64_t updates, const std::string& where) {
  data::write_int_attribute(file, "epoch", progress.epoch, where);
  data::write_int_attribute(file, "iteration", progress.iteration, where);
  data::write_int_attribute(file, "updates", updates, where);
  data::write_string_attribute(file, "best_fitness", std::to_string(progress.best_fitness), where);
  data::write_string_attribute(file, "seed", std::to_string(progress.seed), where);
  data::write_string_attribute(file, "config", progress.config_yaml, where);
  data::write_string_attribute(file, "metrics", progress.metrics_json, where);
  data::write_string_attribute(file, "loop", progress.loop_json, where);
  data::write_string_attribute(file, "created", utc_timestamp_now(), where);
  data::write_string_attribute(file, "shrike_version", kVersion, where);
  data::write_string_attribute(file, "git_commit", kGitCommit, where);
}

bool has_attribute(hid_t object, const char* name) { return H5Aexists(object, name) > 0; }

// Copies a state dict read from the file into a float buffer and counters laid out as `layout`.
void copy_state(const model::StateDict& state, const model::ParamStore& layout, std::span<float> floats,
                std::span<std::int64_t> counters) {
  for (const model::TensorEntry& e : layout.entries()) {
    if (e.role == model::TensorRole::kCounter) {
      counters[e.offset] = state.counters.at(e.name).at(0);
    } else {
      const std::vector<float>& values = state.floats.at(e.name);
      std::copy(values.begin(), values.end(), floats.begin() + static_cast<std::ptrdiff_t>(e.offset));
    }
  }
}

void read_optimizer(const fs::path& path, const model::ParamStore& model, Optimizer& optimizer) {
  for (const std::string& name : optimizer.state_names()) {
    read_trainable_group(path, "/optimizer/" + name, model, optimizer.state(name));
  }
}

}  // namespace

void write_checkpoint(const fs::path& path, const model::ParamStore& model, const ModelEma* ema,
                      const Optimizer* optimizer, const model::WeightsInfo& info, const TrainingProgress& progress,
                      std::span<const float> accumulated_grads) {
  data::silence_hdf5_error_printing();
  const fs::path temp = temporary_sibling(path);
  const std::string where = path.string();
  {
    H5Handle file(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    if (file.get() < 0) fail_user("cannot create {}: is the folder writable and not full?", temp.string());
    model::write_state_group(file, "model", model, model.float_state(), model.counters(), where);
    if (ema != nullptr) {
      model::write_state_group(file, "ema", model, ema->float_state(), ema->counters(), where);
    }
    if (optimizer != nullptr) write_optimizer(file, model, *optimizer, where);
    if (!accumulated_grads.empty()) write_trainable_group(file, "accumulated_grads", model, accumulated_grads, where);
    model::write_weights_attributes(file, info, where);
    write_progress(file, progress, ema != nullptr ? ema->updates() : 0, where);
    H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL), where);
  }
  fsync_path(temp);
  rename_durably(temp, path);
}

CheckpointContents read_checkpoint(const fs::path& path, model::ParamStore& model, ModelEma* ema,
                                   Optimizer* optimizer) {
  data::silence_hdf5_error_printing();
  const std::string where = path.string();
  model::load_state_dict(model, model::read_state_dict(path, "/model"), where);
  CheckpointContents contents;
  contents.has_ema = model::file_has_group(path, "/ema");
  contents.has_optimizer = model::file_has_group(path, "/optimizer");
  H5Handle file = data::open_hdf5_readonly(where, "checkpoint");
  TrainingProgress& p = contents.progress;
  if (has_attribute(file, "epoch")) p.epoch = static_cast<int>(data::read_int_attribute(file, "epoch", where));
  if (has_attribute(file, "iteration")) p.iteration = data::read_int_attribute(file, "iteration", where);
  if (has_attribute(file, "best_fitness")) p.best_fitness = std::stod(data::read_string_attribute(file, "best_fitness", where));
  if (has_attribute(file, "seed")) p.seed = std::stoull(data::read_string_attribute(file, "seed", where));
  if (has_attribute(file, "config")) p.config_yaml = data::read_string_attribute(file, "config", where);
  if (has_attribute(file, "metrics")) p.metrics_json = data::read_string_attribute(file, "metrics", where);
  if (has_attribute(file, "loop")) p.loop_json = data::read_string_attribute(file, "loop", where);
  contents.has_accumulated_grads = model::file_has_group(path, "/accumulated_grads");
  model.zero_grads();
  if (contents.has_accumulated_grads) {
    read_trainable_group(path, "/accumulated_grads", model, model.grads());
    model.mark_all_grads_written();
  }
  if (ema != nullptr && contents.has_ema) {
    model::StateDict state = model::read_state_dict(path, "/ema");
    model::check_state_dict(model, state, where + " /ema");
    copy_state(state, model, ema->float_state(), ema->counters());
    if (has_attribute(file, "updates")) ema->set_updates(data::read_int_attribute(file, "updates", where));
  }
  if (contents.has_optimizer) contents.optimizer_kind = data::read_string_attribute(file, "optimizer", where);
  if (optimizer != nullptr && contents.has_optimizer) {
    if (contents.optimizer_kind != optimizer_name(optimizer->kind())) {
      fail_user("{} was trained with {}, not {}: resume with optimizer={} or start a new run from its weights "
                "(model={})", where, contents.optimizer_kind, optimizer_name(optimizer->kind()),
                contents.optimizer_kind, where);
    }
    read_optimizer(path, model, *optimizer);
    optimizer->set_step_count(data::read_int_attribute(file, "optimizer_steps", where));
  }
  return contents;
}

std::string read_checkpoint_config(const fs::path& path) {
  H5Handle file = data::open_hdf5_readonly(path.string(), "checkpoint");
  return has_attribute(file, "config") ? data::read_string_attribute(file, "config", path.string()) : std::string();
}

}  // namespace shrike::train
