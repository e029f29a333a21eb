// accounting/pricing.h
//
// Price = GPU-seconds x the instance's hourly rate / 3600, at the rate in force when
// the compute ran (DESIGN.md § Credits). A stretch of compute that crosses a price
// change is split at the change; the micro-credits are rounded once, at the end, as
// accounting.yaml says (`rounding`), after the seconds were rounded up to the charge
// increment (`charge_increment_seconds`). All arithmetic is exact (128-bit
// intermediates); a result beyond what the ledger may hold is a UserError.
#pragma once

#include <cstdint>

#include "accounting/accounting_config.h"
#include "accounting/instance_catalog.h"
#include "accounting/money.h"

namespace shrike::accounting {

// Micro-credits per GPU-hour of `type` in force at `unix_seconds` (UserError if none).
Micro rate_micro_per_gpu_hour(const InstanceType& type, const AccountingConfig& config, std::int64_t unix_seconds);

// `seconds` rounded up to a whole number of charge increments.
std::int64_t billable_seconds(std::int64_t seconds, const AccountingConfig& config);

// The cost of `gpus` GPUs of `type` running [start_unix, start_unix + seconds).
Micro usage_cost_micro(const InstanceType& type, const AccountingConfig& config, int gpus, std::int64_t start_unix,
                       std::int64_t seconds);

// ceil(rate x gpus x seconds / 3600): holds and estimates (never rounded down).
Micro estimate_cost_micro(Micro rate_micro_per_gpu_hour, int gpus, double seconds);

}  // namespace shrike::accounting
