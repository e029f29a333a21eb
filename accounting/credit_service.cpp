// accounting/credit_service.cpp: the scheduler's entry points, each routed to the
// ledger directly or through the setuid helper (ledger_access.h).
#include "accounting/credit_service.h"

#include <fmt/core.h>

#include <filesystem>

#include "accounting/accounting_context.h"
#include "accounting/helper_protocol.h"
#include "accounting/holds.h"
#include "accounting/ledger_access.h"
#include "accounting/wallet.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

HoldGrant place_hold(const HoldRequest& request) {
  AccountingContext context;
  if (may_write_ledger_directly(context.ledger_path())) {
    Ledger ledger(context.ledger_path(), context.caller().user);
    return place_hold_in(ledger, context.config(), context.catalog(), request);
  }
  const std::string out = call_ledger_helper(context.ledger_path(), {"hold", hold_request_to_json(request).dump()});
  return hold_grant_from_json(parse_helper_output(out));
}

void bind_hold_to_job(const std::string& job_key, const std::string& cluster, const std::string& job_id) {
  AccountingContext context;
  if (may_write_ledger_directly(context.ledger_path())) {
    Ledger ledger(context.ledger_path(), context.caller().user);
    bind_hold_in(ledger, job_key, cluster, job_id);
    return;
  }
  call_ledger_helper(context.ledger_path(), {"bind", job_key, cluster, job_id});
}

void release_hold(const std::string& job_key) {
  AccountingContext context;
  if (may_write_ledger_directly(context.ledger_path())) {
    Ledger ledger(context.ledger_path(), context.caller().user);
    release_hold_in(ledger, job_key, "released before the job ran");
    return;
  }
  call_ledger_helper(context.ledger_path(), {"release", job_key});
}

AccountSummary account_summary(const std::string& account) {
  AccountingContext context;
  AccountSummary summary;
  summary.account = account;
  if (!fs::exists(context.ledger_path())) return summary;
  AccountBalances balances;
  if (may_write_ledger_directly(context.ledger_path())) {
    Ledger ledger(context.ledger_path(), context.caller().user);
    balances = read_account_balances(ledger, account);
  } else {
    balances = balances_from_json(parse_helper_output(call_ledger_helper(context.ledger_path(), {"summary", account})));
  }
  summary.exists = balances.exists;
  summary.available = to_credits(balances.available);
  summary.held = to_credits(balances.held);
  summary.balance = to_credits(balances.balance());
  summary.credited = to_credits(balances.credited);
  return summary;
}

std::optional<std::string> balance_alert(const std::string& account) {
  AccountSummary summary;
  try {
    summary = account_summary(account);
  } catch (const std::exception&) {
    return std::nullopt;  // an alert line must never break `shrike jobs` or a job log
  }
  if (!summary.exists || summary.credited <= 0) return std::nullopt;
  const double used = (summary.credited - summary.balance) / summary.credited * 100.0;
  if (summary.balance <= 0 || used >= 100.0) {
    return fmt::format("account '{}' has used all its credits (balance {:.2f}, of which {:.2f} held by running "
                       "jobs): running jobs pause at their credit limit and no new job starts until "
                       "`shrike credits topup --account {} --amount N` (admins).",
                       account, summary.balance, summary.held, account);
  }
  const AccountingConfig config = load_accounting_config();
  int passed = 0;
  for (int percent : config.alert_percent) {
    if (percent < 100 && used >= percent) passed = percent;
  }
  if (passed == 0) return std::nullopt;
  return fmt::format("account '{}' has used {:.0f}% of its credits (passed {}%): {:.2f} left of {:.2f}, "
                     "{:.2f} of it held by running jobs.",
                     account, used, passed, summary.balance, summary.credited, summary.held);
}

}  // namespace shrike::accounting
