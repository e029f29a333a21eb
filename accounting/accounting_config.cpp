// accounting/accounting_config.cpp: configs/accounting.yaml read with yaml-cpp; every
// key checked, errors name the file, line and key.
#include "accounting/accounting_config.h"

#include <pwd.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>

#include "accounting/config_number.h"
#include "pipeline/core/config_dir.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kKnownKeys = {
    "version", "currency", "credits_per_currency_unit", "free_credits", "charge_increment_seconds",
    "rounding", "minimum_balance", "minimum_hold_gpu_minutes", "alerts_percent", "startup_grace_seconds",
    "reconcile_tolerance_seconds", "admins", "accounts", "ledger", "slurm",
    "scheduler"};  // read by scheduler/scheduler_config.cpp

std::string at(const fs::path& file, const YAML::Node& node, std::string_view key) {
  return fmt::format("{} line {}: '{}'", file.string(), node.Mark().line + 1, key);
}

double number(const YAML::Node& root, const char* key, const fs::path& file, double fallback, double lo, double hi) {
  const YAML::Node node = root[key];
  if (!node || node.IsNull()) return fallback;
  return config_number(node, at(file, node, key), lo, hi);
}

std::string text(const YAML::Node& root, const char* key, const fs::path& file, std::string fallback) {
  const YAML::Node node = root[key];
  if (!node || node.IsNull()) return fallback;
  if (!node.IsScalar()) fail_user("{} must be a string.", at(file, node, key));
  return node.Scalar();
}

std::vector<std::string> names(const YAML::Node& node, const fs::path& file, std::string_view key) {
  std::vector<std::string> list;
  if (!node || node.IsNull()) return list;
  if (!node.IsSequence()) fail_user("{} must be a list of user names.", at(file, node, key));
  for (const YAML::Node& item : node) {
    if (!item.IsScalar() || item.Scalar().empty()) fail_user("{} holds a non-name entry.", at(file, item, key));
    list.push_back(item.Scalar());
  }
  return list;
}

Rounding rounding_of(const std::string& value, const YAML::Node& root, const fs::path& file) {
  if (value == "up") return Rounding::up;
  if (value == "nearest") return Rounding::nearest;
  if (value == "down") return Rounding::down;
  fail_user("{} is '{}'; use up, nearest or down.", at(file, root["rounding"], "rounding"), value);
}

void read_accounts(const YAML::Node& node, const fs::path& file, AccountingConfig& config) {
  if (!node || node.IsNull()) return;
  if (!node.IsMap()) fail_user("{} must map account names to {{members: [users]}}.", at(file, node, "accounts"));
  for (const auto& item : node) {
    const std::string account = item.first.as<std::string>();
    if (!item.second.IsMap()) fail_user("{} must be {{members: [users]}}.", at(file, item.second, "accounts." + account));
    config.account_members[account] = names(item.second["members"], file, "accounts." + account + ".members");
  }
}

void read_config(const YAML::Node& root, const fs::path& file, AccountingConfig& config) {
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    if (!kKnownKeys.count(key)) {
      fail_user("{} is not an accounting setting. Known settings: version, currency, credits_per_currency_unit, "
                "free_credits, charge_increment_seconds, rounding, minimum_balance, minimum_hold_gpu_minutes, "
                "alerts_percent, startup_grace_seconds, reconcile_tolerance_seconds, admins, accounts, ledger, slurm, scheduler.",
                at(file, item.first, key));
    }
  }
  config.currency = text(root, "currency", file, config.currency);
  config.credits_per_currency_unit = number(root, "credits_per_currency_unit", file, 1.0, 1e-6, 1e6);
  config.free_credits_micro = credits_to_micro(number(root, "free_credits", file, 5.0, 0, 1e9), "free_credits");
  config.charge_increment_seconds = static_cast<int>(number(root, "charge_increment_seconds", file, 1, 1, 86400));
  config.rounding = rounding_of(text(root, "rounding", file, "nearest"), root, file);
  config.minimum_balance_micro = credits_to_micro(number(root, "minimum_balance", file, 0, -1e9, 1e9), "minimum_balance");
  config.minimum_hold_gpu_minutes = number(root, "minimum_hold_gpu_minutes", file, 15, 0, 1e6);
  config.startup_grace_seconds = static_cast<int>(number(root, "startup_grace_seconds", file, 600, 0, 86400));
  config.reconcile_tolerance_seconds = static_cast<int>(number(root, "reconcile_tolerance_seconds", file, 60, 0, 86400));
  if (const YAML::Node alerts = root["alerts_percent"]; alerts && !alerts.IsNull()) {
    if (!alerts.IsSequence()) fail_user("{} must be a list such as [80, 100].", at(file, alerts, "alerts_percent"));
    config.alert_percent.clear();
    for (const YAML::Node& item : alerts) {
      const int percent = item.IsScalar() ? std::atoi(item.Scalar().c_str()) : 0;
      if (percent <= 0 || percent > 1000) fail_user("{} entries must be percentages 1..1000.", at(file, item, "alerts_percent"));
      config.alert_percent.push_back(percent);
    }
    std::sort(config.alert_percent.begin(), config.alert_percent.end());
  }
  config.admins = names(root["admins"], file, "admins");
  read_accounts(root["accounts"], file, config);
  config.ledger = text(root, "ledger", file, "");
  if (const YAML::Node slurm = root["slurm"]; slurm && !slurm.IsNull()) {
    if (!slurm.IsMap()) fail_user("{} must be a mapping {{jobcomp_log: PATH, use_sacct: auto}}.", at(file, slurm, "slurm"));
    config.jobcomp_log = text(slurm, "jobcomp_log", file, "");
    config.use_sacct = text(slurm, "use_sacct", file, "auto");
    if (config.use_sacct != "auto" && config.use_sacct != "yes" && config.use_sacct != "no") {
      fail_user("{} is '{}'; use auto, yes or no.", at(file, slurm["use_sacct"], "slurm.use_sacct"), config.use_sacct);
    }
  }
}

fs::path home_folder() {
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return home;
  if (const passwd* entry = getpwuid(getuid()); entry != nullptr && entry->pw_dir != nullptr) return entry->pw_dir;
  fail_user("cannot tell where your home folder is (HOME is not set); set SHRIKE_HOME or SHRIKE_LEDGER.");
}

}  // namespace

bool AccountingConfig::is_admin(const std::string& user) const {
  return user == "root" || std::find(admins.begin(), admins.end(), user) != admins.end();
}

bool AccountingConfig::may_use_account(const std::string& user, const std::string& account) const {
  if (user == account || is_admin(user)) return true;
  const auto found = account_members.find(account);
  return found != account_members.end() &&
         std::find(found->second.begin(), found->second.end(), user) != found->second.end();
}

AccountingConfig load_accounting_config() { return load_accounting_config(config_dir() / "accounting.yaml"); }

YAML::Node load_site_yaml(const fs::path& file) {
  if (!fs::exists(file)) return YAML::Node();
  try {
    return YAML::LoadFile(file.string());
  } catch (const YAML::ParserException& error) {
    fail_user("{} line {}: not valid YAML ({}). Fix the syntax.", file.string(), error.mark.line + 1, error.msg);
  } catch (const YAML::BadFile&) {
    fail_user("cannot read {}: check its permissions.", file.string());
  }
}

AccountingConfig load_accounting_config(const fs::path& file) {
  AccountingConfig config;
  if (!fs::exists(file)) return config;
  const YAML::Node root = load_site_yaml(file);
  config.source = file;
  if (root.IsNull()) return config;
  if (!root.IsMap()) fail_user("{}: expected a mapping of accounting settings.", file.string());
  try {
    read_config(root, file, config);
  } catch (const YAML::Exception& error) {
    fail_user("{} line {}: {}. Compare with configs/accounting.yaml.", file.string(), error.mark.line + 1, error.msg);
  }
  return config;
}

fs::path resolve_ledger_path(const AccountingConfig& config) {
  if (const char* path = std::getenv("SHRIKE_LEDGER"); path != nullptr && *path != '\0') return path;
  if (!config.ledger.empty()) return config.ledger;
  if (const char* home = std::getenv("SHRIKE_HOME"); home != nullptr && *home != '\0') {
    return fs::path(home) / "ledger.db";
  }
  return home_folder() / ".shrike" / "ledger.db";
}

}  // namespace shrike::accounting
