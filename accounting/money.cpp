// accounting/money.cpp: exact decimal text <-> integer micro-credits.
#include "accounting/money.h"

#include <fmt/core.h>

#include <cmath>
#include <limits>

#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace {

constexpr Micro kMaxSumMicro = std::numeric_limits<Micro>::max() / 2;

[[noreturn]] void bad_amount(std::string_view text, std::string_view what, std::string_view why) {
  fail_user("{} '{}' is not a credit amount: {}. Write a number of credits with at most six "
            "decimals, for example 25 or 12.50.", what, text, why);
}

}  // namespace

Micro parse_credits(std::string_view text, std::string_view what) {
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  if (i == text.size()) bad_amount(text, what, "no digits");
  WideInt whole = 0;
  bool any_digit = false;
  for (; i < text.size() && text[i] != '.'; ++i) {
    if (text[i] < '0' || text[i] > '9') bad_amount(text, what, fmt::format("unexpected '{}'", text[i]));
    whole = whole * 10 + (text[i] - '0');
    any_digit = true;
    if (whole > kMaxAmountMicro) bad_amount(text, what, "too large");
  }
  Micro fraction = 0;
  int decimals = 0;
  if (i < text.size()) {  // text[i] == '.'
    for (++i; i < text.size(); ++i, ++decimals) {
      if (text[i] < '0' || text[i] > '9') bad_amount(text, what, fmt::format("unexpected '{}'", text[i]));
      if (decimals == 6) bad_amount(text, what, "more than six decimals (the ledger counts micro-credits)");
      fraction = fraction * 10 + (text[i] - '0');
      any_digit = true;
    }
  }
  if (!any_digit) bad_amount(text, what, "no digits");
  for (; decimals < 6; ++decimals) fraction *= 10;
  const WideInt total = whole * kMicroPerCredit + fraction;
  if (total > kMaxAmountMicro) bad_amount(text, what, "more than 10^9 credits");
  return negative ? -static_cast<Micro>(total) : static_cast<Micro>(total);
}

std::string format_credits(Micro amount) {
  const bool negative = amount < 0;
  // |amount| as unsigned so that INT64_MIN does not overflow.
  const std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(amount) : static_cast<std::uint64_t>(amount);
  const std::uint64_t cents = (magnitude + 5'000) / 10'000;  // half away from zero
  const std::string sign = negative && cents != 0 ? "-" : "";
  return fmt::format("{}{}.{:02}", sign, cents / 100, cents % 100);
}

std::string format_credits_exact(Micro amount) {
  const bool negative = amount < 0;
  const std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(amount) : static_cast<std::uint64_t>(amount);
  return fmt::format("{}{}.{:06}", negative ? "-" : "", magnitude / kMicroPerCredit, magnitude % kMicroPerCredit);
}

Micro credits_to_micro(double credits, std::string_view what) {
  if (!std::isfinite(credits) || std::fabs(credits) * kMicroPerCredit > static_cast<double>(kMaxAmountMicro)) {
    fail_user("{} = {} is not a usable credit amount (at most 10^9 credits).", what, credits);
  }
  return static_cast<Micro>(std::llround(credits * kMicroPerCredit));
}

Micro checked_add(Micro a, Micro b, std::string_view what) {
  Micro sum = 0;
  if (__builtin_add_overflow(a, b, &sum) || sum > kMaxSumMicro || sum < -kMaxSumMicro) {
    fail_user("{}: the amount would overflow the ledger ({} + {} micro-credits). Nothing was written; "
              "check the input for absurd values.", what, a, b);
  }
  return sum;
}

}  // namespace shrike::accounting
