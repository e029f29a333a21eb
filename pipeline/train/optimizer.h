// pipeline/train/optimizer.h
//
// The optimizer as Ultralytics 8.3 builds it (trainer._setup_train + build_optimizer;
// spec § 3 "Training loop"): the `optimizer` key resolved (auto, SGD, Adam, AdamW),
// the nominal-batch rule (accumulate, weight decay scaled), three parameter groups
// from the tensors' roles, and the state (SGD momentum buffer, or Adam's exp_avg and
// exp_avg_sq, plus the step count) in flat buffers in the trainable order of the
// ParamStore (DESIGN.md § One parameter buffer), exposed by name for checkpoints.
// The arithmetic is in kernels/optimizer_update.h.
//
// Groups (torch param_groups order): pg0 = every bias, BN biases included (no decay);
// pg1 = conv weights (decay); pg2 = BN weights (no decay). The frozen DFL weight is
// in no group: it never has a gradient, and torch skips it.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/optimizer_update.h"
#include "pipeline/model/param_store.h"

namespace shrike::train {

enum class OptimizerKind { kSgd, kAdam, kAdamW };
const char* optimizer_name(OptimizerKind kind);

// The user's keys (Ultralytics names) that decide the optimizer.
struct OptimizerSettings {
  std::string optimizer = "auto";  // auto, SGD, Adam, AdamW
  double lr0 = 0.01;
  double momentum = 0.937;         // SGD momentum, or Adam's beta1
  double weight_decay = 5e-4;      // before the nominal-batch scaling
  double warmup_bias_lr = 0.1;
  int batch = 16;                  // global batch
  int nbs = 64;                    // nominal batch size
  std::int64_t num_train_images = 0;  // for `auto`
  int epochs = 100;                   // for `auto`
  int nc = 80;                        // for `auto`
};

// What the settings resolve to: the optimizer torch would be built with.
struct ResolvedOptimizer {
  OptimizerKind kind = OptimizerKind::kSgd;
  double lr = 0.01;            // every group's initial lr (the schedule's lr0)
  double momentum = 0.937;     // SGD momentum / Adam beta1
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 5e-4;  // pg1's, scaled by batch * accumulate / nbs
  double warmup_bias_lr = 0.1; // 0 after `auto`
  int accumulate = 1;          // max(round(nbs / batch), 1)
  std::string note;            // for the log: what `auto` chose and why
};

// Checks the settings (UserError naming the key and the valid values) and resolves
// them. auto: iterations = ceil(N / max(batch, nbs)) * epochs; > 10000 -> SGD lr 0.01
// momentum 0.9, else AdamW lr round(0.002 * 5 / (4 + nc), 6) betas (0.9, 0.999);
// warmup_bias_lr 0 in both cases.
ResolvedOptimizer resolve_optimizer(const OptimizerSettings& settings);

// weight_decay * batch * accumulate / nbs.
double scaled_weight_decay(double weight_decay, int batch, int accumulate, int nbs);

// lr0 of `auto`'s AdamW: round(0.002 * 5 / (4 + nc), 6), as Python rounds (the
// double's exact value, ties to even).
double auto_adamw_lr(int nc);

constexpr int kNumGroups = 3;
enum ParamGroup : int { kGroupBias = 0, kGroupWeight = 1, kGroupNormWeight = 2 };

// The group of a trainable role (kBias -> pg0, kWeight -> pg1, kNormWeight -> pg2);
// -1 for roles that do not train.
int param_group_of(model::TensorRole role);

struct GroupHyper {
  double lr = 0.01;
  double momentum = 0.937;  // SGD only
  double weight_decay = 0;
};

class Optimizer {
 public:
  // Groups from `params`' entries (layout only: the buffers are passed to step()).
  Optimizer(const model::ParamStore& params, const ResolvedOptimizer& config);

  OptimizerKind kind() const { return config_.kind; }
  const ResolvedOptimizer& config() const { return config_; }
  const GroupHyper& group(int g) const { return groups_.at(static_cast<std::size_t>(g)); }
  void set_lr(int g, double lr);
  // SGD momentum of every group (the warmup's); Adam-family betas are not scheduled
  // (torch groups without a "momentum" key), so this is a no-op for them.
  void set_momentum(double momentum);
  // Elements of the trainable buffer in group g.
  std::size_t group_numel(int g) const;

  // One update of params (trainable_numel) from grads (trainable_numel), both in
  // the trainable order. Increments the step count first (Adam counts from 1).
  void step(std::span<float> params, std::span<const float> grads);
  void step(model::ParamStore& store) { step(store.trainable(), store.grads()); }

  std::int64_t step_count() const { return step_count_; }
  // The update spans over the trainable buffer (tiled, groups tagged): the CUDA
  // optimizer uploads them once and runs the same pass on the device.
  const std::vector<kernels::UpdateSpan>& spans() const { return spans_; }
  void set_step_count(std::int64_t steps) { step_count_ = steps; }

  // The state buffers, each (trainable_numel): SGD "momentum_buffer"; Adam/AdamW
  // "exp_avg", "exp_avg_sq". A checkpoint saves them with step_count() and writes
  // them back through the same spans.
  std::vector<std::string> state_names() const;
  std::span<float> state(const std::string& name);
  std::span<const float> state(const std::string& name) const;

 private:
  ResolvedOptimizer config_;
  std::size_t numel_ = 0;
  std::array<GroupHyper, kNumGroups> groups_{};
  std::vector<kernels::UpdateSpan> spans_;  // tiled, in buffer order
  std::vector<float> state_a_;              // momentum_buffer or exp_avg
  std::vector<float> state_b_;              // exp_avg_sq (Adam family)
  std::int64_t step_count_ = 0;
};

// clip_grad_norm_(max_norm): returns the global L2 norm before clipping (accumulated
// in double) and scales grads by max_norm / (norm + 1e-6) when that is < 1.
double clip_grad_norm(std::span<float> grads, double max_norm = 10.0);

}  // namespace shrike::train
