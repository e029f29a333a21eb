// dashboard/ledger_view.h
//
// What the dashboard shows from the credit ledger (accounting/, DESIGN.md § Credits):
// each account's balance, open holds and charges per run, and each run's cost. It only
// reads: when this user may read the ledger file it is opened with
// SQLITE_OPEN_READONLY (accounting's Ledger class would create and migrate it, which a
// viewer must never do), with the same queries as accounting/wallet.cpp; when the file
// is the site's and closed to users, balances and history come through the setuid
// helper `shrike-ledger` (accounting/account_view.h), which answers only for the
// caller's own accounts, and charges are attributed to runs from the charge keys and
// the job registry. No ledger at all is a normal state (nothing charged yet).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "accounting/money.h"

namespace shrike::dashboard {

struct HoldView {
  std::string job_key, project, run, instance, job_id, created_at;
  int gpus = 0;
  accounting::Micro held = 0, remaining = 0;
};

struct RunCharges {
  std::string project, run, job_ids;  // job_ids: comma-separated Slurm jobs, "" for local runs
  accounting::Micro amount = 0;
  std::int64_t gpu_seconds = 0;
  int charges = 0;
};

struct HistoryView {
  std::string time, kind, memo, job_id, instance;
  accounting::Micro wallet_change = 0, amount = 0;
  std::int64_t gpu_seconds = 0;
};

struct AccountView {
  std::string account;
  bool exists = false;
  accounting::Micro available = 0, held = 0, credited = 0;
  std::vector<HoldView> holds;  // open holds (only when the ledger is read directly)
  std::vector<RunCharges> charges_per_run;
  std::vector<HistoryView> history;  // newest first
};

// (account, project, run) -> credits charged.
using RunCostKey = std::tuple<std::string, std::string, std::string>;
using RunCosts = std::map<RunCostKey, accounting::Micro>;

// Maps a Slurm job id to its (project, run) (from the job registry), for helper mode.
using JobRuns = std::map<std::string, std::pair<std::string, std::string>>;

class LedgerView {
 public:
  // Reads accounting.yaml (SHRIKE_CONFIG_DIR) and resolves the ledger path as every
  // accounting command does (SHRIKE_LEDGER, `ledger:`, $SHRIKE_HOME/ledger.db).
  LedgerView();

  const std::filesystem::path& path() const { return path_; }
  // Why accounting.yaml could not be read ("" when it could); the defaults are used then.
  const std::string& config_note() const { return config_note_; }
  bool present() const;
  // "file" (read directly), "helper" (through shrike-ledger) or "none".
  std::string access() const;
  // The accounts this user sees: their own and the shared accounts listing them.
  std::vector<std::string> visible_accounts() const;

  // One account; never throws for a missing or unreadable ledger (note says why).
  AccountView account(const std::string& name, const JobRuns& job_runs, std::string& note) const;
  // Charges per (account, project, run): all accounts when the file is readable, the
  // visible accounts through the helper. Empty (with a note) when it cannot be read.
  RunCosts run_costs(const JobRuns& job_runs, std::string& note) const;

 private:
  std::filesystem::path path_;
  std::string config_note_;
  std::string user_;
  std::vector<std::string> shared_accounts_;
};

nlohmann::json account_view_json(const AccountView& view);
// Credits as a number with 6 decimals (exact) for JSON.
double credits_number(accounting::Micro amount);

}  // namespace shrike::dashboard
