// pipeline/train/run_budget.cpp: time re-planning and the credit check.
#include "pipeline/train/run_budget.h"

#include <algorithm>
#include <cmath>

namespace shrike::train {

int RunBudget::replan_epochs(int planned, int epochs_completed, double mean_epoch_seconds) const {
  if (!has_time_limit() || mean_epoch_seconds <= 0) return planned;
  const int fit = static_cast<int>(std::ceil(settings_.time_hours * 3600.0 / mean_epoch_seconds));
  return std::max(fit, epochs_completed);  // never below what already ran
}

bool RunBudget::time_is_up(double elapsed_seconds) const {
  return has_time_limit() && elapsed_seconds > settings_.time_hours * 3600.0;
}

double RunBudget::credits_spent(double elapsed_seconds) const {
  return settings_.spent_before + elapsed_seconds / 3600.0 * settings_.rate_per_hour * settings_.devices;
}

bool RunBudget::should_pause_for_credits(double elapsed_seconds, double lookahead_seconds) const {
  if (!has_credit_limit()) return false;
  return credits_spent(elapsed_seconds + lookahead_seconds) > settings_.credit_limit;
}

}  // namespace shrike::train
