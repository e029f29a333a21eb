// accounting/accounting_config.h
//
// The site's accounting policy (configs/accounting.yaml): how credits relate to money,
// the free credits a new account starts with, how charges are rounded, the minimum a
// job needs to start, who the admins are, which users may charge shared accounts, and
// where the ledger lives. A missing file means the defaults below.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "accounting/money.h"

namespace shrike::accounting {

enum class Rounding { up, nearest, down };

struct AccountingConfig {
  std::filesystem::path source;  // the file read, empty when defaults
  std::string currency = "USD";
  double credits_per_currency_unit = 1.0;  // 1 credit = 1 US dollar
  Micro free_credits_micro = 5 * kMicroPerCredit;
  int charge_increment_seconds = 1;        // GPU time is charged in whole increments, rounded up
  Rounding rounding = Rounding::nearest;   // of each charge's micro-credits
  Micro minimum_balance_micro = 0;         // available credits must exceed this to start a job
  double minimum_hold_gpu_minutes = 15;    // an epoch run needs at least this much of its GPUs
  std::vector<int> alert_percent = {80, 100};
  int startup_grace_seconds = 600;         // a Slurm job that failed this early without training is free
  int reconcile_tolerance_seconds = 60;    // GPU-time mismatches below this are not reported
  std::vector<std::string> admins;         // besides root
  std::map<std::string, std::vector<std::string>> account_members;  // shared accounts
  std::string ledger;                      // site ledger path; "" = $SHRIKE_HOME/ledger.db
  std::string jobcomp_log;                 // "" = JobCompLoc from slurm.conf
  std::string use_sacct = "auto";          // auto | yes | no

  bool is_admin(const std::string& user) const;
  // `user` may charge `account`: their own, or a shared account listing them.
  bool may_use_account(const std::string& user, const std::string& account) const;
};

// config_dir()/accounting.yaml (defaults when the file does not exist).
AccountingConfig load_accounting_config();
AccountingConfig load_accounting_config(const std::filesystem::path& file);

// The site file's YAML tree (also read by scheduler/ for its `scheduler:` section): a
// null node when the file does not exist; bad YAML or an unreadable file is a UserError
// naming the file and line.
YAML::Node load_site_yaml(const std::filesystem::path& file);

// The ledger file: SHRIKE_LEDGER, else the config's `ledger:`, else
// $SHRIKE_HOME/ledger.db (SHRIKE_HOME defaults to ~/.shrike).
std::filesystem::path resolve_ledger_path(const AccountingConfig& config);

}  // namespace shrike::accounting
