// dashboard/ledger_view.cpp: read-only queries of the ledger, or the helper's answers.
#include "dashboard/ledger_view.h"

#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <memory>
#include <system_error>

#include "accounting/account_view.h"
#include "accounting/accounting_config.h"
#include "accounting/caller_identity.h"
#include "accounting/ledger_access.h"
#include "accounting/sqlite_db.h"
#include "accounting/wallet.h"
#include "pipeline/core/error.h"

namespace shrike::dashboard {

namespace fs = std::filesystem;
using accounting::Database;
using accounting::Micro;
using accounting::Statement;
using nlohmann::json;

namespace {

constexpr int kHistoryLimit = 100;

std::unique_ptr<Database> open_read_only(const fs::path& path) {
  auto db = std::make_unique<Database>(path, Database::Mode::read_only);
  db->prepare("SELECT count(*) FROM accounts").step();  // fails here when unreadable or not a ledger
  return db;
}

bool file_readable(const fs::path& path) { return ::access(path.c_str(), R_OK) == 0; }

// ---- direct: the same queries as accounting/wallet.cpp, on a read-only connection ----

void read_balances(Database& db, AccountView& view) {
  const accounting::AccountBalances balances = accounting::read_account_balances(db, view.account);
  view.exists = balances.exists;
  view.available = balances.available;
  view.held = balances.held;
  view.credited = balances.credited;
}

void read_holds(Database& db, AccountView& view) {
  Statement select = db.prepare(
      "SELECT h.job_key, h.project, h.run, h.instance, coalesce(h.job_id, ''), h.created_at, h.gpus, h.hold_micro, "
      "coalesce(a.balance_micro, 0) FROM holds h LEFT JOIN accounts a ON a.name = 'hold:' || h.job_key "
      "WHERE h.account = ? AND h.state = 'open' ORDER BY h.created_at DESC");
  select.bind(1, view.account);
  while (select.step()) {
    HoldView hold;
    hold.job_key = select.column_text(0);
    hold.project = select.column_text(1);
    hold.run = select.column_text(2);
    hold.instance = select.column_text(3);
    hold.job_id = select.column_text(4);
    hold.created_at = select.column_text(5);
    hold.gpus = static_cast<int>(select.column_int64(6));
    hold.held = select.column_int64(7);
    hold.remaining = select.column_int64(8);
    view.holds.push_back(std::move(hold));
  }
}

void read_charges(Database& db, AccountView& view) {
  Statement select = db.prepare(
      "SELECT project, run, group_concat(DISTINCT nullif(job_id, '')), sum(amount_micro), sum(gpu_seconds), count(*) "
      "FROM transactions WHERE account = ? AND kind = 'charge' GROUP BY project, run ORDER BY max(id) DESC");
  select.bind(1, view.account);
  while (select.step()) {
    view.charges_per_run.push_back({select.column_text(0), select.column_text(1), select.column_text(2),
                                    select.column_int64(3), select.column_int64(4),
                                    static_cast<int>(select.column_int64(5))});
  }
}

void read_history(Database& db, AccountView& view) {
  for (const accounting::HistoryRow& row : accounting::account_history(db, view.account, kHistoryLimit)) {
    view.history.push_back({row.time, row.kind, row.memo, row.job_id, row.instance, row.wallet_change, row.amount,
                            row.gpu_seconds});
  }
}

// ---- through the helper: history rows, attributed to runs ------------------------------

// A local settlement's charge key is "charge:<cluster>:local:<account>/<project>/<run>:<start>:<seconds>"
// (accounting/settle_plan.cpp local_segment + settlement.cpp); Slurm charges carry a job id.
std::pair<std::string, std::string> run_of_charge(const accounting::HistoryRow& row, const JobRuns& job_runs) {
  if (!row.job_id.empty()) {
    const auto found = job_runs.find(row.job_id);
    if (found != job_runs.end()) return found->second;
    return {"", "job " + row.job_id};
  }
  const std::string marker = ":local:";
  const std::size_t at = row.key.find(marker);
  if (row.key.starts_with("charge:") && at != std::string::npos) {
    const std::string rest = row.key.substr(at + marker.size());
    const std::size_t first = rest.find('/'), second = rest.find('/', first + 1), end = rest.find(':', second + 1);
    if (first != std::string::npos && second != std::string::npos && end != std::string::npos) {
      return {rest.substr(first + 1, second - first - 1), rest.substr(second + 1, end - second - 1)};
    }
  }
  return {"", row.key};
}

void charges_from_history(const std::vector<accounting::HistoryRow>& rows, const JobRuns& job_runs, AccountView& view) {
  for (const accounting::HistoryRow& row : rows) {
    if (row.kind != "charge") continue;
    const auto [project, run] = run_of_charge(row, job_runs);
    auto found = std::find_if(view.charges_per_run.begin(), view.charges_per_run.end(),
                              [&](const RunCharges& c) { return c.project == project && c.run == run; });
    if (found == view.charges_per_run.end()) {
      view.charges_per_run.push_back({project, run, row.job_id, 0, 0, 0});
      found = view.charges_per_run.end() - 1;
    }
    found->amount += row.amount;
    found->gpu_seconds += row.gpu_seconds;
    found->charges += 1;
  }
}

AccountView account_through_helper(const std::string& name, const JobRuns& job_runs) {
  AccountView view;
  view.account = name;
  const accounting::AccountBalances balances = accounting::view_balances(name);
  view.exists = balances.exists;
  view.available = balances.available;
  view.held = balances.held;
  view.credited = balances.credited;
  const std::vector<accounting::HistoryRow> rows = accounting::view_history(name, 10 * kHistoryLimit);
  charges_from_history(rows, job_runs, view);
  for (std::size_t i = 0; i < rows.size() && i < static_cast<std::size_t>(kHistoryLimit); ++i) {
    const accounting::HistoryRow& row = rows[i];
    view.history.push_back({row.time, row.kind, row.memo, row.job_id, row.instance, row.wallet_change, row.amount,
                            row.gpu_seconds});
  }
  return view;
}

}  // namespace

LedgerView::LedgerView() {
  accounting::AccountingConfig config;  // the defaults when accounting.yaml cannot be read
  try {
    config = accounting::load_accounting_config();
  } catch (const UserError& error) {
    config_note_ = std::string(error.what()) + " (the dashboard uses the default accounting settings)";
  }
  path_ = accounting::resolve_ledger_path(config);
  user_ = accounting::real_caller().user;
  for (const auto& [account, members] : config.account_members) {
    if (account != user_ && std::find(members.begin(), members.end(), user_) != members.end()) {
      shared_accounts_.push_back(account);
    }
  }
}

bool LedgerView::present() const {
  std::error_code error;
  return fs::is_regular_file(path_, error);
}

std::string LedgerView::access() const {
  if (!present()) return "none";
  return file_readable(path_) ? "file" : "helper";
}

std::vector<std::string> LedgerView::visible_accounts() const {
  std::vector<std::string> accounts = {user_};
  accounts.insert(accounts.end(), shared_accounts_.begin(), shared_accounts_.end());
  return accounts;
}

AccountView LedgerView::account(const std::string& name, const JobRuns& job_runs, std::string& note) const {
  AccountView view;
  view.account = name;
  if (!present()) return view;
  try {
    if (file_readable(path_)) {
      auto db = open_read_only(path_);
      accounting::ReadTransaction snapshot(*db);
      read_balances(*db, view);
      read_holds(*db, view);
      read_charges(*db, view);
      read_history(*db, view);
      return view;
    }
    if (!accounting::may_write_ledger_directly(path_)) return account_through_helper(name, job_runs);
    note = fmt::format("the ledger {} cannot be read", path_.string());
  } catch (const std::exception& error) {
    note = error.what();
  }
  return view;
}

RunCosts LedgerView::run_costs(const JobRuns& job_runs, std::string& note) const {
  RunCosts costs;
  if (!present()) return costs;
  try {
    if (file_readable(path_)) {
      auto db = open_read_only(path_);
      Statement select = db->prepare(
          "SELECT account, project, run, sum(amount_micro) FROM transactions WHERE kind = 'charge' "
          "GROUP BY account, project, run");
      while (select.step()) {
        costs[{select.column_text(0), select.column_text(1), select.column_text(2)}] = select.column_int64(3);
      }
      return costs;
    }
    if (accounting::may_write_ledger_directly(path_)) return costs;
    for (const std::string& name : visible_accounts()) {
      for (const RunCharges& charge : account_through_helper(name, job_runs).charges_per_run) {
        costs[{name, charge.project, charge.run}] += charge.amount;
      }
    }
  } catch (const std::exception& error) {
    note = error.what();
  }
  return costs;
}

double credits_number(Micro amount) { return static_cast<double>(amount) / accounting::kMicroPerCredit; }

json account_view_json(const AccountView& view) {
  json holds = json::array(), charges = json::array(), history = json::array();
  for (const HoldView& hold : view.holds) {
    holds.push_back({{"job_key", hold.job_key}, {"project", hold.project}, {"run", hold.run},
                     {"instance", hold.instance}, {"job_id", hold.job_id}, {"created_at", hold.created_at},
                     {"gpus", hold.gpus}, {"held", credits_number(hold.held)},
                     {"remaining", credits_number(hold.remaining)}});
  }
  for (const RunCharges& charge : view.charges_per_run) {
    charges.push_back({{"project", charge.project}, {"run", charge.run}, {"job_ids", charge.job_ids},
                       {"amount", credits_number(charge.amount)}, {"gpu_hours", charge.gpu_seconds / 3600.0},
                       {"charges", charge.charges}});
  }
  for (const HistoryView& row : view.history) {
    history.push_back({{"time", row.time}, {"kind", row.kind}, {"memo", row.memo}, {"job_id", row.job_id},
                       {"instance", row.instance}, {"wallet_change", credits_number(row.wallet_change)},
                       {"amount", credits_number(row.amount)}, {"gpu_seconds", row.gpu_seconds}});
  }
  return {{"account", view.account},
          {"exists", view.exists},
          {"balance", credits_number(view.available + view.held)},
          {"available", credits_number(view.available)},
          {"held", credits_number(view.held)},
          {"credited", credits_number(view.credited)},
          {"spent", credits_number(view.credited - view.available - view.held)},
          {"holds", holds},
          {"charges_per_run", charges},
          {"history", history}};
}

}  // namespace shrike::dashboard
