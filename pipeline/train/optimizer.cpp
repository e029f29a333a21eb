// pipeline/train/optimizer.cpp
//
// Resolving the `optimizer` key, the parameter groups and the Optimizer's state
// (see optimizer.h). The per-element arithmetic is kernels/optimizer_update.
#include "pipeline/train/optimizer.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "pipeline/core/error.h"

namespace shrike::train {

const char* optimizer_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::kSgd: return "SGD";
    case OptimizerKind::kAdam: return "Adam";
    case OptimizerKind::kAdamW: return "AdamW";
  }
  return "?";
}

double scaled_weight_decay(double weight_decay, int batch, int accumulate, int nbs) {
  return weight_decay * batch * accumulate / nbs;
}

double auto_adamw_lr(int nc) {
  // Python's round(x, 6) rounds the double's exact decimal value, ties to even; so
  // does printf's %.6f (glibc), and strtod reads the result back exactly.
  char text[64];
  std::snprintf(text, sizeof text, "%.6f", 0.002 * 5 / (4 + nc));
  return std::strtod(text, nullptr);
}

namespace {

std::string lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void check_settings(const OptimizerSettings& s) {
  if (!(s.lr0 > 0)) fail_user("lr0 = {} must be > 0 (the initial learning rate, e.g. 0.01)", s.lr0);
  if (!(s.weight_decay >= 0)) fail_user("weight_decay = {} must be >= 0 (e.g. 0.0005)", s.weight_decay);
  if (!(s.warmup_bias_lr >= 0)) fail_user("warmup_bias_lr = {} must be >= 0 (e.g. 0.1)", s.warmup_bias_lr);
  if (s.batch < 1) fail_user("batch = {} must be >= 1", s.batch);
  if (s.nbs < 1) fail_user("nbs = {} must be >= 1 (nominal batch size, normally 64)", s.nbs);
}

// What `auto` resolves to (Ultralytics build_optimizer).
void resolve_auto(const OptimizerSettings& s, ResolvedOptimizer& r) {
  if (s.num_train_images < 1 || s.epochs < 1 || s.nc < 1) {
    fail_user("optimizer=auto needs the training-set size, epochs and class count (got {} images, {} epochs, "
              "nc {})", s.num_train_images, s.epochs, s.nc);
  }
  const std::int64_t per_epoch = (s.num_train_images + std::max(s.batch, s.nbs) - 1) / std::max(s.batch, s.nbs);
  const std::int64_t iterations = per_epoch * s.epochs;
  r.warmup_bias_lr = 0.0;
  r.momentum = 0.9;
  if (iterations > 10000) {
    r.kind = OptimizerKind::kSgd;
    r.lr = 0.01;
  } else {
    r.kind = OptimizerKind::kAdamW;
    r.lr = auto_adamw_lr(s.nc);
  }
  r.note = fmt::format("optimizer=auto: {} iterations -> {}(lr={}, momentum=0.9); warmup_bias_lr set to 0 "
                       "(lr0 and momentum ignored)", iterations, optimizer_name(r.kind), r.lr);
}

void check_momentum(const ResolvedOptimizer& r) {
  if (r.kind == OptimizerKind::kSgd && !(r.momentum > 0 && r.momentum < 1)) {
    fail_user("momentum = {} must be in (0, 1) for SGD (Nesterov needs a momentum; e.g. 0.937)", r.momentum);
  }
  if (r.kind != OptimizerKind::kSgd && !(r.momentum >= 0 && r.momentum < 1)) {
    fail_user("momentum = {} must be in [0, 1): it is {}'s beta1 (e.g. 0.937)", r.momentum, optimizer_name(r.kind));
  }
}

}  // namespace

ResolvedOptimizer resolve_optimizer(const OptimizerSettings& s) {
  check_settings(s);
  ResolvedOptimizer r;
  r.lr = s.lr0;
  r.momentum = s.momentum;
  r.warmup_bias_lr = s.warmup_bias_lr;
  const std::string name = lowercase(s.optimizer);
  if (name == "auto") {
    resolve_auto(s, r);
  } else if (name == "sgd") {
    r.kind = OptimizerKind::kSgd;
  } else if (name == "adam") {
    r.kind = OptimizerKind::kAdam;
  } else if (name == "adamw") {
    r.kind = OptimizerKind::kAdamW;
  } else {
    fail_user("optimizer = '{}' is not one shrike knows; use one of auto, SGD, Adam, AdamW "
              "(Adamax, NAdam, RAdam and RMSProp are not implemented)", s.optimizer);
  }
  check_momentum(r);
  r.accumulate = std::max(static_cast<int>(std::nearbyint(static_cast<double>(s.nbs) / s.batch)), 1);
  r.weight_decay = scaled_weight_decay(s.weight_decay, s.batch, r.accumulate, s.nbs);
  return r;
}

int param_group_of(model::TensorRole role) {
  switch (role) {
    case model::TensorRole::kBias: return kGroupBias;
    case model::TensorRole::kWeight: return kGroupWeight;
    case model::TensorRole::kNormWeight: return kGroupNormWeight;
    default: return -1;
  }
}

Optimizer::Optimizer(const model::ParamStore& params, const ResolvedOptimizer& config)
    : config_(config), numel_(params.trainable_numel()) {
  for (int g = 0; g < kNumGroups; ++g) {
    groups_[static_cast<std::size_t>(g)] = {config.lr, config.momentum, g == kGroupWeight ? config.weight_decay : 0.0};
  }
  std::vector<kernels::UpdateSpan> merged;  // adjacent tensors of one group become one span
  for (const model::TensorEntry& e : params.entries()) {
    const int g = param_group_of(e.role);
    if (g < 0 || e.numel == 0) continue;
    if (e.offset + e.numel > numel_) {
      fail_internal("optimizer: trainable tensor {} lies outside the trainable buffer ({} + {} > {})", e.name, e.offset,
                    e.numel, numel_);
    }
    if (!merged.empty() && merged.back().group == static_cast<std::uint32_t>(g) &&
        merged.back().offset + merged.back().count == e.offset) {
      merged.back().count += e.numel;
    } else {
      merged.push_back({e.offset, e.numel, static_cast<std::uint32_t>(g)});
    }
  }
  spans_ = kernels::tile_spans(merged);
  state_a_.assign(numel_, 0.0f);
  if (config_.kind != OptimizerKind::kSgd) state_b_.assign(numel_, 0.0f);
}

void Optimizer::set_lr(int g, double lr) { groups_.at(static_cast<std::size_t>(g)).lr = lr; }

void Optimizer::set_momentum(double momentum) {
  if (config_.kind != OptimizerKind::kSgd) return;
  for (GroupHyper& g : groups_) g.momentum = momentum;
}

std::size_t Optimizer::group_numel(int g) const {
  std::size_t n = 0;
  for (const kernels::UpdateSpan& s : spans_) {
    if (s.group == static_cast<std::uint32_t>(g)) n += s.count;
  }
  return n;
}

void Optimizer::step(std::span<float> params, std::span<const float> grads) {
  if (params.size() != numel_ || grads.size() != numel_) {
    fail_internal("optimizer step: {} parameters and {} gradients given, the optimizer was built for {}",
                  params.size(), grads.size(), numel_);
  }
  ++step_count_;
  if (config_.kind == OptimizerKind::kSgd) {
    std::array<kernels::SgdGroup, kNumGroups> hyper{};
    for (std::size_t g = 0; g < hyper.size(); ++g) {
      hyper[g] = {groups_[g].lr, groups_[g].momentum, groups_[g].weight_decay};
    }
    kernels::sgd_update_cpu(params.data(), grads.data(), state_a_.data(), spans_, hyper, /*nesterov=*/true,
                            /*first_step=*/step_count_ == 1);
    return;
  }
  std::array<kernels::AdamGroup, kNumGroups> hyper{};
  for (std::size_t g = 0; g < hyper.size(); ++g) hyper[g] = {groups_[g].lr, groups_[g].weight_decay};
  kernels::AdamSettings settings;
  settings.beta1 = config_.momentum;
  settings.beta2 = config_.beta2;
  settings.eps = config_.eps;
  settings.decoupled_weight_decay = config_.kind == OptimizerKind::kAdamW;
  settings.step = step_count_;
  kernels::adam_update_cpu(params.data(), grads.data(), state_a_.data(), state_b_.data(), spans_, hyper, settings);
}

std::vector<std::string> Optimizer::state_names() const {
  if (config_.kind == OptimizerKind::kSgd) return {"momentum_buffer"};
  return {"exp_avg", "exp_avg_sq"};
}

std::span<const float> Optimizer::state(const std::string& name) const {
  return const_cast<Optimizer&>(*this).state(name);  // the same lookup; the caller only reads
}

std::span<float> Optimizer::state(const std::string& name) {
  if (config_.kind == OptimizerKind::kSgd && name == "momentum_buffer") return state_a_;
  if (config_.kind != OptimizerKind::kSgd && name == "exp_avg") return state_a_;
  if (config_.kind != OptimizerKind::kSgd && name == "exp_avg_sq") return state_b_;
  fail_internal("optimizer {} has no state buffer '{}'", optimizer_name(config_.kind), name);
}

double clip_grad_norm(std::span<float> grads, double max_norm) {
  const double norm = std::sqrt(kernels::sum_squares_cpu(grads.data(), grads.size()));
  const double factor = kernels::clip_factor(norm, max_norm);
  if (factor < 1.0) kernels::scale_in_place_cpu(grads.data(), static_cast<float>(factor), grads.size());
  return norm;
}

}  // namespace shrike::train
