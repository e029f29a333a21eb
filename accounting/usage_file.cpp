// accounting/usage_file.cpp: strict usage.json parsing with nlohmann-json.
#include "accounting/usage_file.h"

#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "accounting/time_text.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kMaxGpus = 100'000;
constexpr std::int64_t kClockSkewSeconds = 300;

struct Reader {
  const fs::path& file;

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    fail_user("{}: {}{}. Nothing was charged; fix or regenerate usage.json (the trainer writes it).", file.string(),
              where.empty() ? "" : where + ": ", what);
  }

  std::string text(const json& object, const char* key, const std::string& where, const std::string& fallback) const {
    if (!object.contains(key) || object[key].is_null()) return fallback;
    if (!object[key].is_string()) fail(where, fmt::format("'{}' must be a string, found {}", key, object[key].dump()));
    return object[key].get<std::string>();
  }

  int gpus(const json& object, const std::string& where, int fallback) const {
    if (!object.contains("gpus") || object["gpus"].is_null()) {
      if (fallback > 0) return fallback;
      fail(where, "'gpus' is missing (the number of GPUs, or CPU processes, the run used)");
    }
    const json& value = object["gpus"];
    if (!value.is_number_integer()) fail(where, fmt::format("'gpus' must be a whole number, found {}", value.dump()));
    const std::int64_t count = value.get<std::int64_t>();
    if (count < 1 || count > kMaxGpus) fail(where, fmt::format("'gpus' is {}; it must be 1..{}", count, kMaxGpus));
    return static_cast<int>(count);
  }

  std::string instance(const json& object, const std::string& where, const std::string& fallback,
                       const InstanceCatalog& catalog) const {
    const std::string id = text(object, "instance", where, fallback);
    if (id.empty()) fail(where, "'instance' is missing (the instance type id, for example rtx4090 or cpu)");
    if (catalog.find(id) == nullptr) {
      fail(where, fmt::format("unknown instance type '{}' (known: {}; catalogue {})", id, catalog.known_ids(),
                              catalog.source.string()));
    }
    return id;
  }

  std::int64_t time(const json& segment, const char* key, const std::string& where) const {
    if (!segment.contains(key) || !segment[key].is_string()) {
      fail(where, fmt::format("'{}' must be a UTC time such as \"2026-11-01T10:00:00Z\"", key));
    }
    const auto parsed = parse_iso8601_utc(segment[key].get<std::string>());
    if (!parsed) {
      fail(where, fmt::format("'{}' is \"{}\", not a UTC time such as \"2026-11-01T10:00:00Z\"", key,
                              segment[key].get<std::string>()));
    }
    return *parsed;
  }
};

json parse_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    fail_user("{}: cannot be read ({}). Pass run folders that hold a usage.json (a run that never started "
              "training has none and costs nothing).", file.string(), fs::exists(file) ? "permission denied" : "missing");
  }
  std::stringstream content;
  content << in.rdbuf();
  try {
    return json::parse(content.str());
  } catch (const json::parse_error& error) {
    fail_user("{}: not valid JSON (byte {}: {}). Nothing was charged; a torn or hand-edited usage.json must be "
              "restored from the run (the trainer rewrites it atomically).", file.string(), error.byte, error.what());
  }
}

void check_order(const Reader& reader, std::vector<UsageSpan>& spans) {
  std::sort(spans.begin(), spans.end(), [](const UsageSpan& a, const UsageSpan& b) { return a.start < b.start; });
  for (std::size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].start < spans[i - 1].end) {
      reader.fail(fmt::format("segments[{}] and segments[{}]", spans[i - 1].index, spans[i].index),
                  fmt::format("they overlap ({} .. {} and {} .. {}); one run trains in one stretch at a time",
                              format_unix_utc(spans[i - 1].start), format_unix_utc(spans[i - 1].end),
                              format_unix_utc(spans[i].start), format_unix_utc(spans[i].end)));
    }
  }
}

}  // namespace

UsageFile read_usage_file(const fs::path& file, const InstanceCatalog& catalog, const std::string& default_user,
                          std::int64_t now_unix) {
  const Reader reader{file};
  const json root = parse_file(file);
  if (!root.is_object()) reader.fail("", "the top level must be a JSON object");
  if (root.contains("version") && root["version"] != 1) {
    reader.fail("", fmt::format("version {} is not supported (this shrike reads version 1)", root["version"].dump()));
  }
  UsageFile usage;
  usage.path = file;
  usage.cluster = reader.text(root, "cluster", "", "local");
  usage.user = reader.text(root, "user", "", default_user);
  usage.account = reader.text(root, "account", "", usage.user);
  usage.project = reader.text(root, "project", "", "");
  usage.run = reader.text(root, "run", "", "");
  usage.job_id = reader.text(root, "job_id", "", "");
  usage.instance = reader.instance(root, "", "", catalog);
  usage.gpus = reader.gpus(root, "", 0);
  if (usage.account.empty() || usage.cluster.empty()) reader.fail("", "'account' and 'cluster' must not be empty");
  if (!root.contains("segments") || !root["segments"].is_array()) {
    reader.fail("", "'segments' must be a list of {\"start\": ..., \"end\": ...}");
  }
  int index = 0;
  for (const json& segment : root["segments"]) {
    const std::string where = fmt::format("segments[{}]", index);
    if (!segment.is_object()) reader.fail(where, "each segment must be an object");
    UsageSpan span;
    span.index = index++;
    span.start = reader.time(segment, "start", where);
    span.end = reader.time(segment, "end", where);
    if (span.end < span.start) {
      reader.fail(where, fmt::format("it ends ({}) before it starts ({}): a negative duration",
                                     format_unix_utc(span.end), format_unix_utc(span.start)));
    }
    if (span.end > now_unix + kClockSkewSeconds) {
      reader.fail(where, fmt::format("it ends in the future ({}); check the clock of the machine that trained",
                                     format_unix_utc(span.end)));
    }
    span.gpus = reader.gpus(segment, where, usage.gpus);
    span.instance = reader.instance(segment, where, usage.instance, catalog);
    span.job_id = reader.text(segment, "job_id", where, usage.job_id);
    usage.segments.push_back(span);
  }
  check_order(reader, usage.segments);
  return usage;
}

}  // namespace shrike::accounting
