// pipeline/core/utc_time.h
//
// Timestamps in files (manifests, checkpoints, status.json, usage.json): ISO 8601 in
// UTC with a 'Z', whole seconds, "2026-11-01T10:00:00Z". One formatter for all of them.
#pragma once

#include <chrono>
#include <ctime>
#include <string>

namespace shrike {

inline std::string format_utc_iso8601(std::chrono::system_clock::time_point time) {
  std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

inline std::string utc_timestamp_now() { return format_utc_iso8601(std::chrono::system_clock::now()); }

}  // namespace shrike
