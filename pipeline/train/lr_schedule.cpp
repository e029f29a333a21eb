// pipeline/train/lr_schedule.cpp
//
// The 8.3 warmup / LR / momentum / accumulate schedule (see lr_schedule.h), written
// to match the reference's double arithmetic operation for operation, so that
// schedule.json is reproduced to the last bit or two.
#include "pipeline/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace shrike::train {

double lr_factor(int epoch, const ScheduleSettings& s) {
  const double x = epoch;
  if (s.cos_lr) {
    return std::max((1.0 - std::cos(x * std::numbers::pi / s.epochs)) / 2.0, 0.0) * (s.lrf - 1.0) + 1.0;
  }
  return std::max(1.0 - x / s.epochs, 0.0) * (1.0 - s.lrf) + s.lrf;
}

std::int64_t warmup_iterations(const ScheduleSettings& s) {
  if (s.warmup_epochs <= 0) return -1;
  const double rounded = std::nearbyint(s.warmup_epochs * static_cast<double>(s.batches_per_epoch));  // half to even
  return std::max<std::int64_t>(static_cast<std::int64_t>(rounded), 100);
}

int nominal_accumulate(int batch, int nbs) {
  return std::max(static_cast<int>(std::nearbyint(static_cast<double>(nbs) / batch)), 1);
}

double interp_from_zero(double x, double x1, double y0, double y1) {
  // numpy arr_interp: the end points are returned exactly, inside slope * (x - x0) + y0.
  if (x <= 0) return y0;
  if (x >= x1) return y1;
  const double slope = (y1 - y0) / (x1 - 0.0);
  return slope * (x - 0.0) + y0;
}

namespace {

// accumulate for iteration ni: interpolated during warmup, nominal after.
int accumulate_at(std::int64_t ni, std::int64_t nw, const ScheduleSettings& s) {
  if (nw < 0 || ni > nw) return nominal_accumulate(s.batch, s.nbs);
  const double a = interp_from_zero(static_cast<double>(ni), static_cast<double>(nw), 1.0,
                                    static_cast<double>(s.nbs) / s.batch);
  return std::max(1, static_cast<int>(std::nearbyint(a)));
}

}  // namespace

SchedulePoint schedule_at(std::int64_t ni, int epoch, const ScheduleSettings& s) {
  const std::int64_t nw = warmup_iterations(s);
  const double target = s.lr0 * lr_factor(epoch, s);  // initial_lr * lf(epoch)
  SchedulePoint p;
  p.accumulate = accumulate_at(ni, nw, s);
  p.warming_up = nw >= 0 && ni <= nw;
  if (!p.warming_up) {
    p.lr = {target, target, target};
    p.momentum = nw >= 0 ? s.momentum : s.optimizer_momentum;
    return p;
  }
  const double x = static_cast<double>(ni);
  const double x1 = static_cast<double>(nw);
  p.lr[0] = interp_from_zero(x, x1, s.warmup_bias_lr, target);
  p.lr[1] = interp_from_zero(x, x1, 0.0, target);
  p.lr[2] = p.lr[1];
  p.momentum = interp_from_zero(x, x1, s.warmup_momentum, s.momentum);
  return p;
}

bool optimizer_steps(std::int64_t ni, std::int64_t last_opt_step, int accumulate) {
  return ni - last_opt_step >= accumulate;
}

bool OptimizerStepGate::after_iteration(std::int64_t ni, int accumulate) {
  if (!optimizer_steps(ni, last_opt_step_, accumulate)) return false;
  last_opt_step_ = ni;
  return true;
}

std::int64_t last_optimizer_step_before(std::int64_t ni, const ScheduleSettings& s) {
  const std::int64_t nw = warmup_iterations(s);
  OptimizerStepGate gate;
  for (std::int64_t k = 0; k < ni; ++k) gate.after_iteration(k, accumulate_at(k, nw, s));
  return gate.last_opt_step();
}

}  // namespace shrike::train
