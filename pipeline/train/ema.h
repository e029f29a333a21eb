// pipeline/train/ema.h
//
// The exponential moving average of the model that validation and checkpoints use
// (Ultralytics ModelEMA; spec § 3, tests/reference/README.md "EMA"): a copy of all
// float state (parameters, the frozen DFL weight and the BN running statistics, in
// the ParamStore's float_state() order) and of the int64 counters. Each optimizer
// step: updates += 1 first, then d = decay * (1 - exp(-updates / tau)) with the new
// count, and every float entry becomes d * ema + (1 - d) * model in float32. The
// counters (BN num_batches_tracked) are copied when the EMA is made and then left
// alone, as the reference's update skips non-float entries.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "pipeline/model/param_store.h"

namespace shrike::train {

class ModelEma {
 public:
  // Copies model's float state and counters (a deepcopy, as ModelEMA.__init__).
  explicit ModelEma(model::ParamStore& model, std::int64_t updates = 0, double decay = 0.9999, double tau = 2000);

  // d for a given update count: decay * (1 - exp(-updates / tau)).
  double decay_at(std::int64_t updates) const;

  // updates += 1, then ema = d * ema + (1 - d) * model_float_state over every float
  // entry. model_float_state: the model's float_state() (same layout). Returns d.
  double update(std::span<const float> model_float_state);
  double update(model::ParamStore& model) { return update(model.float_state()); }

  std::int64_t updates() const { return updates_; }
  void set_updates(std::int64_t updates) { updates_ = updates; }  // checkpoint restore

  // The averaged state, in the model's float_state() / counters() layout (for
  // validation, checkpoints, and restoring from one).
  std::span<float> float_state() { return floats_; }
  std::span<std::int64_t> counters() { return counters_; }
  std::span<const float> float_state() const { return floats_; }
  std::span<const std::int64_t> counters() const { return counters_; }

 private:
  std::vector<float> floats_;
  std::vector<std::int64_t> counters_;
  std::int64_t updates_;
  double decay_;
  double tau_;
};

}  // namespace shrike::train
