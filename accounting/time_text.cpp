// accounting/time_text.cpp: strict timestamp parsing with sscanf and timegm/mktime.
#include "accounting/time_text.h"

#include <cstdio>
#include <ctime>
#include <string>

namespace shrike::accounting {

namespace {

struct Fields {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  std::size_t consumed = 0;
};

// "YYYY-MM-DDTHH:MM:SS" at the start of `text`.
std::optional<Fields> date_time_fields(const std::string& text) {
  Fields f;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &f.year, &f.month, &f.day, &f.hour, &f.minute,
                  &f.second, &consumed) != 6 || consumed != 19) {
    return std::nullopt;
  }
  if (f.year < 1970 || f.year > 9999 || f.month < 1 || f.month > 12 || f.day < 1 || f.day > 31 || f.hour > 23 ||
      f.minute > 59 || f.second > 60 || f.hour < 0 || f.minute < 0 || f.second < 0) {
    return std::nullopt;
  }
  f.consumed = static_cast<std::size_t>(consumed);
  return f;
}

std::tm to_tm(const Fields& f) {
  std::tm t{};
  t.tm_year = f.year - 1900;
  t.tm_mon = f.month - 1;
  t.tm_mday = f.day;
  t.tm_hour = f.hour;
  t.tm_min = f.minute;
  t.tm_sec = f.second;
  t.tm_isdst = -1;
  return t;
}

bool only_fraction(const std::string& rest) {
  if (rest.empty()) return true;
  if (rest[0] != '.' || rest.size() == 1) return false;
  return rest.find_first_not_of("0123456789", 1) == std::string::npos;
}

}  // namespace

std::optional<std::int64_t> parse_iso8601_utc(std::string_view view) {
  const std::string text(view);
  const auto fields = date_time_fields(text);
  if (!fields) return std::nullopt;
  std::string rest = text.substr(fields->consumed);
  if (rest.size() >= 1 && rest.back() == 'Z') {
    rest.pop_back();
  } else if (rest.size() >= 6 && rest.compare(rest.size() - 6, 6, "+00:00") == 0) {
    rest.resize(rest.size() - 6);
  } else {
    return std::nullopt;  // a time without a zone is ambiguous in usage.json
  }
  if (!only_fraction(rest)) return std::nullopt;
  std::tm t = to_tm(*fields);
  t.tm_isdst = 0;
  const std::time_t seconds = timegm(&t);
  std::tm back{};
  gmtime_r(&seconds, &back);
  if (back.tm_mday != fields->day) return std::nullopt;  // 2026-02-30
  return static_cast<std::int64_t>(seconds);
}

std::optional<std::int64_t> parse_slurm_local_time(std::string_view view) {
  const std::string text(view);
  const auto fields = date_time_fields(text);
  if (!fields || fields->consumed != text.size()) return std::nullopt;
  std::tm t = to_tm(*fields);
  const std::time_t seconds = mktime(&t);
  if (seconds == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<std::int64_t>(seconds);
}

std::string format_unix_utc(std::int64_t unix_seconds) {
  const std::time_t seconds = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string utc_day_of(std::int64_t unix_seconds) {
  const std::time_t seconds = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &utc);
  return text;
}

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }
std::string utc_day_now() { return utc_day_of(unix_now()); }

}  // namespace shrike::accounting
