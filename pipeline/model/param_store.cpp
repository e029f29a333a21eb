// pipeline/model/param_store.cpp: declaration, layout and access of state tensors.
#include "pipeline/model/param_store.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <numeric>

#include "pipeline/core/error.h"

namespace shrike::model {

bool is_trainable(TensorRole role) {
  return role == TensorRole::kWeight || role == TensorRole::kBias || role == TensorRole::kNormWeight;
}

bool is_parameter(TensorRole role) { return is_trainable(role) || role == TensorRole::kFrozen; }

const char* role_name(TensorRole role) {
  switch (role) {
    case TensorRole::kWeight: return "weight";
    case TensorRole::kBias: return "bias";
    case TensorRole::kNormWeight: return "norm weight";
    case TensorRole::kFrozen: return "frozen";
    case TensorRole::kRunningMean: return "running mean";
    case TensorRole::kRunningVar: return "running var";
    case TensorRole::kCounter: return "counter";
  }
  return "?";
}

int ParamStore::declare(const std::string& name, std::vector<std::int64_t> shape, TensorRole role) {
  auto found = by_name_.find(name);
  if (found != by_name_.end()) {
    const TensorEntry& existing = entries_[static_cast<std::size_t>(found->second)];
    if (existing.shape != shape || existing.role != role) {
      fail_internal("tensor {} declared twice with different shapes ({} vs {})", name,
                    fmt::join(existing.shape, "x"), fmt::join(shape, "x"));
    }
    return found->second;
  }
  if (finalized_) fail_internal("tensor {} declared after the parameter layout was fixed", name);
  TensorEntry entry{name, std::move(shape), role, 0, 0};
  entry.numel = static_cast<std::size_t>(
      std::accumulate(entry.shape.begin(), entry.shape.end(), std::int64_t{1}, std::multiplies<>()));
  entries_.push_back(std::move(entry));
  int index = static_cast<int>(entries_.size() - 1);
  by_name_[name] = index;
  return index;
}

void ParamStore::finalize() {
  if (finalized_) return;
  std::size_t floats = 0, counters = 0;
  for (auto& entry : entries_) {  // trainable first: the optimizer's and gradients' range
    if (is_trainable(entry.role)) {
      entry.offset = floats;
      floats += entry.numel;
    }
  }
  trainable_numel_ = floats;
  for (auto& entry : entries_) {
    if (entry.role == TensorRole::kCounter) {
      entry.offset = counters;
      counters += entry.numel;
    } else if (!is_trainable(entry.role)) {
      entry.offset = floats;
      floats += entry.numel;
    }
  }
  floats_.assign(floats, 0.0f);
  grads_.assign(trainable_numel_, 0.0f);
  counters_.assign(counters, 0);
  grad_fresh_.assign(entries_.size(), true);
  finalized_ = true;
}

int ParamStore::find(const std::string& name) const {
  auto found = by_name_.find(name);
  return found == by_name_.end() ? -1 : found->second;
}

float* ParamStore::value(int index) { return floats_.data() + entries_[static_cast<std::size_t>(index)].offset; }
const float* ParamStore::value(int index) const {
  return floats_.data() + entries_[static_cast<std::size_t>(index)].offset;
}

float* ParamStore::grad(int index) {
  const TensorEntry& e = entries_[static_cast<std::size_t>(index)];
  if (!is_trainable(e.role)) fail_internal("{} has no gradient (role {})", e.name, role_name(e.role));
  return grads_.data() + e.offset;
}

std::int64_t* ParamStore::counter(int index) {
  return counters_.data() + entries_[static_cast<std::size_t>(index)].offset;
}

std::size_t ParamStore::parameter_count() const {
  std::size_t count = 0;
  for (const auto& entry : entries_) count += is_parameter(entry.role) ? entry.numel : 0;
  return count;
}

std::size_t ParamStore::parameter_count(const std::string& prefix) const {
  std::size_t count = 0;
  for (const auto& entry : entries_) {
    if (is_parameter(entry.role) && entry.name.rfind(prefix, 0) == 0) count += entry.numel;
  }
  return count;
}

void ParamStore::zero_grads() {
  std::fill(grads_.begin(), grads_.end(), 0.0f);
  std::fill(grad_fresh_.begin(), grad_fresh_.end(), true);
}

}  // namespace shrike::model
