// accounting/time_text.h
//
// The timestamps accounting reads and writes: usage.json's ISO 8601 UTC times
// ("2026-11-01T10:00:00Z"), Slurm's local times without a zone ("2026-11-01T11:00:00",
// as jobcomp/filetxt and sacct print them), and the UTC days reports group by.
// Parsing is strict: anything else is nullopt, so callers can say which field was bad.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shrike::accounting {

// "2026-11-01T10:00:00Z" (also "+00:00" and fractional seconds) -> unix seconds.
std::optional<std::int64_t> parse_iso8601_utc(std::string_view text);
// "2026-11-01T11:00:00" in the local time zone (TZ) -> unix seconds.
std::optional<std::int64_t> parse_slurm_local_time(std::string_view text);
// Unix seconds -> "2026-11-01T10:00:00Z".
std::string format_unix_utc(std::int64_t unix_seconds);
// Unix seconds -> "2026-11-01" (UTC).
std::string utc_day_of(std::int64_t unix_seconds);
std::string utc_day_now();
std::int64_t unix_now();

}  // namespace shrike::accounting
