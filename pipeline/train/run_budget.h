// pipeline/train/run_budget.h
//
// The two limits a run can have besides its epoch count:
//  - time (`time=HOURS`, the reference's timed training): after each epoch the epoch
//    count is re-planned as ceil(time * 3600 / mean epoch seconds) so the schedule
//    ends on time, and training also stops mid-epoch once the time is used up;
//  - credits (`credit_limit` with the instance's `rate` per device-hour, given by the
//    scheduler): the run pauses itself, with a checkpoint, before it would spend more
//    than its limit. It is checked at least once a minute; the check pauses early
//    enough that the next interval, plus the checkpoint, still fits.
// Pure arithmetic on elapsed seconds, so it is tested without waiting.
#pragma once

#include <cstdint>

namespace shrike::train {

struct BudgetSettings {
  double time_hours = 0;      // 0: no time limit
  double credit_limit = 0;    // 0: no credit limit
  double rate_per_hour = 0;   // credits per device-hour of the instance
  int devices = 1;            // GPUs (or CPU processes) billed
  double spent_before = 0;    // credits used by earlier segments of this run (resume)
};

class RunBudget {
 public:
  explicit RunBudget(const BudgetSettings& settings) : settings_(settings) {}

  // Epochs that fit the time limit given the mean epoch so far (time limit only;
  // otherwise returns `planned`); never fewer than the epochs already completed.
  int replan_epochs(int planned, int epochs_completed, double mean_epoch_seconds) const;
  // Whether `elapsed_seconds` of this segment used up the time limit.
  bool time_is_up(double elapsed_seconds) const;

  // Credits spent after `elapsed_seconds` of this segment (plus earlier segments).
  double credits_spent(double elapsed_seconds) const;
  // Whether to pause now: spending `lookahead_seconds` more (until the next check and
  // the checkpoint) would exceed the limit.
  bool should_pause_for_credits(double elapsed_seconds, double lookahead_seconds) const;

  bool has_time_limit() const { return settings_.time_hours > 0; }
  bool has_credit_limit() const { return settings_.credit_limit > 0; }
  const BudgetSettings& settings() const { return settings_; }

 private:
  BudgetSettings settings_;
};

// How often the trainer checks the credit limit, at most (seconds).
inline constexpr double kCreditCheckSeconds = 60.0;

}  // namespace shrike::train
