// scheduler/scheduler_config.cpp: the `scheduler:` section of accounting.yaml.
#include "scheduler/scheduler_config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <set>
#include <string>

#include "accounting/accounting_config.h"
#include "accounting/config_number.h"
#include "pipeline/core/config_dir.h"
#include "pipeline/core/error.h"

namespace shrike::scheduler {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kKeys = {"max_active_jobs_per_account", "min_time_limit_minutes", "signal_lead_seconds",
                                     "time_margin"};

double read_number(const YAML::Node& section, const std::string& key, const fs::path& file, double fallback,
                   double lo, double hi, bool integer) {
  const YAML::Node node = section[key];
  if (!node || node.IsNull()) return fallback;
  return accounting::config_number(node, fmt::format("{} line {}: scheduler.{}", file.string(), node.Mark().line + 1, key),
                                   lo, hi, integer);
}

}  // namespace

SchedulerConfig load_scheduler_config() { return load_scheduler_config(config_dir() / "accounting.yaml"); }

SchedulerConfig load_scheduler_config(const fs::path& file) {
  SchedulerConfig config;
  const YAML::Node root = accounting::load_site_yaml(file);
  if (!root.IsMap()) return config;
  const YAML::Node section = root["scheduler"];
  if (!section || section.IsNull()) return config;
  config.source = file;
  if (!section.IsMap()) {
    fail_user("{} line {}: 'scheduler' must be a mapping (max_active_jobs_per_account: 1, ...).", file.string(),
              section.Mark().line + 1);
  }
  for (const auto& item : section) {
    const std::string key = item.first.as<std::string>();
    if (!kKeys.count(key)) {
      fail_user("{} line {}: scheduler.{} is not a scheduler setting. Known: max_active_jobs_per_account, "
                "min_time_limit_minutes, signal_lead_seconds, time_margin.",
                file.string(), item.first.Mark().line + 1, key);
    }
  }
  config.max_active_jobs_per_account =
      static_cast<int>(read_number(section, "max_active_jobs_per_account", file, 1, 0, 100000, true));
  config.min_time_limit_minutes = static_cast<int>(read_number(section, "min_time_limit_minutes", file, 5, 0, 100000, true));
  config.signal_lead_seconds = static_cast<int>(read_number(section, "signal_lead_seconds", file, 120, 10, 3600, true));
  config.time_margin = read_number(section, "time_margin", file, 1.5, 1.0, 100, false);
  return config;
}

}  // namespace shrike::scheduler
