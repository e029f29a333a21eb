// accounting/instance_catalog.cpp: configs/instances.yaml parsed with yaml-cpp and
// checked key by key; every error names the file, line, entry and key, and the fix.
#include "accounting/instance_catalog.h"

#include <yaml-cpp/yaml.h>

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <ctime>

#include "accounting/config_number.h"
#include "pipeline/core/config_dir.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

namespace {

struct Where {
  const fs::path& file;
  std::string entry;  // "instances.rtx3090"
  std::string at(const YAML::Node& node, std::string_view key) const {
    return fmt::format("{} line {}: {}.{}", file.string(), node.Mark().line + 1, entry, key);
  }
};

YAML::Node load_yaml(const fs::path& file) {
  if (!fs::exists(file)) {
    fail_user("instance catalogue {} does not exist. Copy configs/instances.yaml there or point "
              "SHRIKE_CONFIG_DIR at the folder holding the site's instances.yaml.", file.string());
  }
  try {
    return YAML::LoadFile(file.string());
  } catch (const YAML::ParserException& error) {
    fail_user("{} line {}: not valid YAML ({}). Fix the syntax.", file.string(), error.mark.line + 1, error.msg);
  } catch (const YAML::BadFile&) {
    fail_user("cannot read {}: check its permissions.", file.string());
  }
}

std::string read_string(const YAML::Node& parent, const char* key, const Where& where, bool required) {
  const YAML::Node node = parent[key];
  if (!node || node.IsNull()) {
    if (required) fail_user("{}: missing '{}'. Add it (see configs/instances.yaml).", where.at(parent, key), key);
    return {};
  }
  if (!node.IsScalar()) fail_user("{}: '{}' must be a string.", where.at(node, key), key);
  return node.as<std::string>();
}

double read_number(const YAML::Node& parent, const char* key, const Where& where, double fallback,
                   double minimum, double maximum) {
  const YAML::Node node = parent[key];
  if (!node || node.IsNull()) return fallback;
  return config_number(node, fmt::format("{}: '{}'", where.at(node, key), key), minimum, maximum);
}

std::vector<InstancePrice> read_prices(const YAML::Node& entry, const Where& where) {
  const YAML::Node list = entry["prices"];
  if (!list || !list.IsSequence() || list.size() == 0) {
    fail_user("{}: 'prices' must be a list of {{effective_from: \"YYYY-MM-DD\", per_gpu_hour: N}} "
              "with at least one entry.", where.at(list ? list : entry, "prices"));
  }
  std::vector<InstancePrice> prices;
  for (const YAML::Node& item : list) {
    if (!item.IsMap()) fail_user("{}: each price must be a mapping.", where.at(item, "prices"));
    InstancePrice price;
    price.effective_from = read_string(item, "effective_from", where, true);
    price.effective_from_unix = parse_utc_date(price.effective_from);
    if (price.effective_from_unix < 0) {
      fail_user("{}: effective_from '{}' is not a date YYYY-MM-DD.", where.at(item, "prices.effective_from"),
                price.effective_from);
    }
    if (!item["per_gpu_hour"]) fail_user("{}: missing 'per_gpu_hour'.", where.at(item, "prices"));
    price.per_gpu_hour = read_number(item, "per_gpu_hour", where, 0, 0, 1e6);
    prices.push_back(price);
  }
  for (std::size_t i = 1; i < prices.size(); ++i) {
    if (prices[i].effective_from_unix <= prices[i - 1].effective_from_unix) {
      fail_user("{}: prices must be in increasing effective_from order ({} follows {}).",
                where.at(list, "prices"), prices[i].effective_from, prices[i - 1].effective_from);
    }
  }
  return prices;
}

SlurmMapping read_slurm(const YAML::Node& entry, const Where& where) {
  const YAML::Node node = entry["slurm"];
  if (!node || !node.IsMap()) {
    fail_user("{}: 'slurm' must be a mapping {{partition: P, gres_type: T, constraint: C}}.",
              where.at(node ? node : entry, "slurm"));
  }
  const Where inner{where.file, where.entry + ".slurm"};
  return {read_string(node, "partition", inner, true), read_string(node, "gres_type", inner, false),
          read_string(node, "constraint", inner, false)};
}

bool valid_id(const std::string& id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

InstanceType read_instance(const std::string& id, const YAML::Node& entry, const fs::path& file) {
  const Where where{file, "instances." + id};
  if (!valid_id(id)) {
    fail_user("{}: instance id '{}' may use only a-z, 0-9, '-' and '_'.", where.at(entry, ""), id);
  }
  if (!entry.IsMap()) fail_user("{}: each instance must be a mapping.", where.at(entry, ""));
  InstanceType type;
  type.id = id;
  type.gpu = read_string(entry, "gpu", where, true);
  type.gpu_memory_gb = read_number(entry, "gpu_memory_gb", where, 0, 0, 1e4);
  type.relative_speed = read_number(entry, "relative_speed", where, 1, 1e-6, 1e3);
  type.memory_gb_per_gpu = read_number(entry, "memory_gb_per_gpu", where, 0, 0, 1e5);
  type.cpus_per_gpu = static_cast<int>(read_number(entry, "cpus_per_gpu", where, 1, 1, 4096));
  type.prices = read_prices(entry, where);
  type.slurm = read_slurm(entry, where);
  return type;
}

}  // namespace

std::int64_t parse_utc_date(std::string_view text) {
  int year = 0, month = 0, day = 0;
  char tail = 0;
  const std::string copy(text);
  if (copy.size() != 10 || std::sscanf(copy.c_str(), "%4d-%2d-%2d%c", &year, &month, &day, &tail) != 3) return -1;
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31) return -1;
  std::tm utc{};
  utc.tm_year = year - 1900;
  utc.tm_mon = month - 1;
  utc.tm_mday = day;
  const std::time_t seconds = timegm(&utc);
  std::tm back{};
  gmtime_r(&seconds, &back);
  if (back.tm_mday != day) return -1;  // 2025-02-30
  return seconds;
}

bool InstanceType::is_cpu() const { return slurm.gres_type.empty(); }

const InstancePrice* InstanceType::price_at(std::int64_t unix_seconds) const {
  const InstancePrice* found = nullptr;
  for (const InstancePrice& price : prices) {
    if (price.effective_from_unix <= unix_seconds) found = &price;
  }
  return found;
}

const InstanceType* InstanceCatalog::find(std::string_view id) const {
  for (const InstanceType& type : types) {
    if (type.id == id) return &type;
  }
  return nullptr;
}

std::string InstanceCatalog::known_ids() const {
  std::string ids;
  for (const InstanceType& type : types) ids += (ids.empty() ? "" : ", ") + type.id;
  return ids;
}

const InstanceType& InstanceCatalog::at(std::string_view id) const {
  if (const InstanceType* type = find(id)) return *type;
  fail_user("unknown instance type '{}'. Known instance types ({}): {}.", id, source.string(), known_ids());
}

double InstanceCatalog::per_gpu_hour_at(std::string_view id, std::chrono::system_clock::time_point when) const {
  const InstanceType& type = at(id);
  const std::int64_t seconds = std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
  const InstancePrice* price = type.price_at(seconds);
  if (price == nullptr) {
    fail_user("instance type '{}' has no price in force at that time (its first price starts {}); "
              "add an earlier prices entry in {}.", id, type.prices.front().effective_from, source.string());
  }
  return price->per_gpu_hour;
}

InstanceCatalog load_instance_catalog() { return load_instance_catalog(config_dir() / "instances.yaml"); }

InstanceCatalog load_instance_catalog(const fs::path& file) {
  const YAML::Node root = load_yaml(file);
  if (!root.IsMap()) fail_user("{}: expected a mapping with 'version' and 'instances'.", file.string());
  if (const YAML::Node version = root["version"]; version && (!version.IsScalar() || version.Scalar() != "1")) {
    fail_user("{} line {}: version '{}' is not supported (this shrike reads version 1).", file.string(),
              version.Mark().line + 1, version.IsScalar() ? version.Scalar() : std::string("?"));
  }
  const YAML::Node instances = root["instances"];
  if (!instances || !instances.IsMap() || instances.size() == 0) {
    fail_user("{}: 'instances' must be a mapping of instance ids to their settings.", file.string());
  }
  InstanceCatalog catalog;
  catalog.source = file;
  for (const auto& item : instances) {
    catalog.types.push_back(read_instance(item.first.as<std::string>(), item.second, file));
  }
  return catalog;
}

}  // namespace shrike::accounting
