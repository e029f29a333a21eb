// pipeline/train/ema.cpp
//
// ModelEma (see ema.h): the copy, the decay ramp and the update over all float state.
#include "pipeline/train/ema.h"

#include <cmath>

#include "kernels/optimizer_update.h"
#include "pipeline/core/error.h"

namespace shrike::train {

ModelEma::ModelEma(model::ParamStore& model, std::int64_t updates, double decay, double tau)
    : floats_(model.float_state().begin(), model.float_state().end()),
      counters_(model.counters().begin(), model.counters().end()),
      updates_(updates),
      decay_(decay),
      tau_(tau) {}

double ModelEma::decay_at(std::int64_t updates) const {
  return decay_ * (1.0 - std::exp(-static_cast<double>(updates) / tau_));
}

double ModelEma::update(std::span<const float> model_float_state) {
  if (model_float_state.size() != floats_.size()) {
    fail_internal("EMA update: the model has {} float values, the EMA {}", model_float_state.size(), floats_.size());
  }
  ++updates_;
  const double d = decay_at(updates_);
  kernels::ema_update_cpu(floats_.data(), model_float_state.data(), floats_.size(), d);
  return d;
}

}  // namespace shrike::train
