// accounting/pricing.cpp: exact cost of GPU time over price periods.
#include "accounting/pricing.h"

#include <algorithm>
#include <cmath>

#include "accounting/time_text.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace {

Micro rounded_division(WideInt numerator, std::int64_t denominator, Rounding rounding) {
  WideInt quotient = numerator / denominator;
  const WideInt remainder = numerator % denominator;  // numerator >= 0 here
  if (rounding == Rounding::up && remainder != 0) ++quotient;
  if (rounding == Rounding::nearest && remainder * 2 >= denominator) ++quotient;
  return static_cast<Micro>(quotient);
}

}  // namespace

Micro rate_micro_per_gpu_hour(const InstanceType& type, const AccountingConfig& config, std::int64_t unix_seconds) {
  const InstancePrice* price = type.price_at(unix_seconds);
  if (price == nullptr) {
    fail_user("instance type '{}' has no price in force on {} (its first price starts {}); add an earlier "
              "prices entry to the instance catalogue.", type.id, utc_day_of(unix_seconds),
              type.prices.front().effective_from);
  }
  return credits_to_micro(price->per_gpu_hour * config.credits_per_currency_unit, "per_gpu_hour");
}

std::int64_t billable_seconds(std::int64_t seconds, const AccountingConfig& config) {
  const std::int64_t increment = config.charge_increment_seconds;
  return seconds <= 0 ? 0 : (seconds + increment - 1) / increment * increment;
}

Micro usage_cost_micro(const InstanceType& type, const AccountingConfig& config, int gpus, std::int64_t start_unix,
                       std::int64_t seconds) {
  if (gpus <= 0 || seconds < 0) fail_internal("usage_cost_micro: gpus {} seconds {}", gpus, seconds);
  WideInt numerator = 0;  // GPU-seconds x micro-credits per GPU-hour
  std::int64_t at = start_unix;
  const std::int64_t end = start_unix + seconds;
  while (at < end) {
    const Micro rate = rate_micro_per_gpu_hour(type, config, at);
    std::int64_t period_end = end;
    for (const InstancePrice& price : type.prices) {
      if (price.effective_from_unix > at) {
        period_end = std::min(period_end, price.effective_from_unix);
        break;
      }
    }
    numerator += static_cast<WideInt>(period_end - at) * gpus * rate;
    at = period_end;
  }
  const WideInt limit = static_cast<WideInt>(kMaxAmountMicro) * 3600;
  if (numerator > limit) {
    fail_user("{} GPU(s) of {} for {} s would cost more than 10^9 credits: the usage is not plausible. "
              "Nothing was written; check the segment's start, end and gpus.", gpus, type.id, seconds);
  }
  return rounded_division(numerator, 3600, config.rounding);
}

Micro estimate_cost_micro(Micro rate_micro_per_gpu_hour, int gpus, double seconds) {
  const double cost = std::ceil(static_cast<double>(rate_micro_per_gpu_hour) * gpus * std::max(0.0, seconds) / 3600.0);
  if (!std::isfinite(cost) || cost > static_cast<double>(kMaxAmountMicro)) {
    fail_user("an estimate of {} s on {} GPU(s) would cost more than 10^9 credits; check the time estimate.",
              seconds, gpus);
  }
  return static_cast<Micro>(cost);
}

}  // namespace shrike::accounting
