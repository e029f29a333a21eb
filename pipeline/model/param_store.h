// pipeline/model/param_store.h
//
// Every tensor of a model's state dict, in flat buffers (DESIGN.md § One parameter
// buffer): one float buffer holds all float state with the trainable parameters
// first, [0, trainable_numel()), then the frozen ones (the DFL conv) and the
// BatchNorm running statistics; gradients (and, later, optimizer state) are buffers
// of trainable_numel() in the same order; num_batches_tracked counters are int64.
// Names are the Ultralytics state-dict names ("model.0.conv.weight"), so weights
// move to and from PyTorch by a plain name match. Layout (offsets) is fixed by
// finalize(), after the graph builder has declared every tensor.
#pragma once

#include <cstdint>
#include <algorithm>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace shrike::model {

// What a state-dict tensor is; decides its optimizer group and whether it trains.
enum class TensorRole {
  kWeight,       // conv weight: trained, with weight decay (optimizer group pg1)
  kBias,         // any bias, incl. BatchNorm's: trained, no decay (pg0)
  kNormWeight,   // BatchNorm weight: trained, no decay (pg2)
  kFrozen,       // a parameter that never trains (the DFL conv)
  kRunningMean,  // BatchNorm buffers: float state, not parameters
  kRunningVar,
  kCounter,      // BatchNorm num_batches_tracked (int64)
};

bool is_trainable(TensorRole role);
bool is_parameter(TensorRole role);  // counted in the parameter total (trainable or frozen)
const char* role_name(TensorRole role);

struct TensorEntry {
  std::string name;
  std::vector<std::int64_t> shape;
  TensorRole role;
  std::size_t numel = 0;
  std::size_t offset = 0;  // into floats (or counters, for kCounter)
};

class ParamStore {
 public:
  // Declares `name` (or returns the existing entry after checking its shape and role).
  int declare(const std::string& name, std::vector<std::int64_t> shape, TensorRole role);
  // Lays the buffers out; values are zero until initialised or loaded. Idempotent.
  void finalize();
  bool finalized() const { return finalized_; }

  const std::vector<TensorEntry>& entries() const { return entries_; }
  const TensorEntry& entry(int index) const { return entries_.at(static_cast<std::size_t>(index)); }
  int find(const std::string& name) const;  // -1 when absent

  float* value(int index);
  const float* value(int index) const;
  float* grad(int index);  // trainable entries only
  std::int64_t* counter(int index);

  std::span<float> float_state() { return floats_; }               // all float state (EMA runs over this)
  std::span<const float> float_state() const { return floats_; }
  std::span<const std::int64_t> counters() const { return counters_; }
  std::span<float> trainable() { return {floats_.data(), trainable_numel_}; }
  std::span<float> grads() { return grads_; }
  std::span<std::int64_t> counters() { return counters_; }
  std::size_t trainable_numel() const { return trainable_numel_; }
  std::size_t parameter_count() const;  // trainable + frozen elements, as the reference counts
  // Parameter elements whose names start with `prefix` ("model.4.").
  std::size_t parameter_count(const std::string& prefix) const;

  // Gradients: zero_grads() before a backward pass that starts fresh; ops then write
  // a parameter's gradient directly the first time and accumulate after (micro-batches).
  void zero_grads();
  bool grad_fresh(int index) const { return grad_fresh_[static_cast<std::size_t>(index)]; }
  void mark_grad_written(int index) { grad_fresh_[static_cast<std::size_t>(index)] = false; }
  // After restoring a gradient accumulation in progress: later passes add to it.
  void mark_all_grads_written() { std::fill(grad_fresh_.begin(), grad_fresh_.end(), false); }

 private:
  std::vector<TensorEntry> entries_;
  std::map<std::string, int> by_name_;
  std::vector<float> floats_;
  std::vector<float> grads_;
  std::vector<std::int64_t> counters_;
  std::vector<bool> grad_fresh_;
  std::size_t trainable_numel_ = 0;
  bool finalized_ = false;
};

}  // namespace shrike::model
