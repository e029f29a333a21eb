// accounting/money.h
//
// Amounts in the ledger are integer micro-credits (1 credit = 1'000'000), so sums are
// exact and no rounding drifts across millions of entries. This file owns the
// conversions at the edges: credits typed by users ("12.5") to micro-credits, micro-
// credits to the two-decimal text users see and the exact six-decimal text reports
// add up with, and arithmetic that refuses to overflow instead of wrapping.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace shrike::accounting {

using Micro = std::int64_t;
inline constexpr Micro kMicroPerCredit = 1'000'000;
// The largest amount one ledger operation may move: 10^9 credits. Sums of thousands of
// such amounts still fit in int64 (9.2e18 micro-credits).
inline constexpr Micro kMaxAmountMicro = 1'000'000'000LL * kMicroPerCredit;
// 128-bit intermediates for exact products and parsing (a GCC/Clang extension, marked
// so that -Wpedantic accepts it).
__extension__ typedef __int128 WideInt;

// "12.5", "-3", "0.000001" -> micro-credits. At most six decimals, at most
// kMaxAmountMicro in magnitude. Throws UserError naming `what` ("--amount").
Micro parse_credits(std::string_view text, std::string_view what);

// Two decimals for people: 12345678 -> "12.35", -5000 -> "-0.01" (half away from zero).
std::string format_credits(Micro amount);
// Exact: 12345678 -> "12.345678" (reports and CSV/JSON, where rows must add up).
std::string format_credits_exact(Micro amount);

// Credits as a double for interfaces that take doubles (credit_limit=, rate=).
inline double to_credits(Micro amount) { return static_cast<double>(amount) / kMicroPerCredit; }
// Credits (a double from a config or the catalogue) -> micro-credits, rounded to nearest.
// Throws UserError naming `what` when not finite or beyond kMaxAmountMicro.
Micro credits_to_micro(double credits, std::string_view what);

// a + b, throwing UserError naming `what` when |sum| would pass INT64_MAX / 2.
Micro checked_add(Micro a, Micro b, std::string_view what);

}  // namespace shrike::accounting
