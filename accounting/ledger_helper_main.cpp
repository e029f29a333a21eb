// accounting/ledger_helper_main.cpp: `shrike-ledger`, the small setuid helper through
// which users who may not write the site ledger (mode 0600, owned by an accounting
// user or root) still place and release holds for their own jobs and read their own
// balance. It is installed setuid to the ledger's owner (slurm/README.md § Accounting)
// and does only this:
//   hold JSON | bind KEY CLUSTER JOBID | release KEY      for the REAL user's accounts
//   summary ACCOUNT | history ACCOUNT LIMIT               the real user's accounts
//   settle ARGS...                                        root, SlurmUser, admins
//   credit topup|grant|refund ACCOUNT AMOUNT MEMO KEY     admins
// Answers are JSON on standard output; refusals are "error: ..." with exit 1. In a
// setuid process the environment is the caller's, so: PATH is reset, TZ dropped, and
// config files and the ledger are believed only when owned by root or the helper's
// owner and writable by no one else (accounting_context.cpp).
#include <cstdlib>
#include <iostream>

#include <fmt/core.h>

#include "accounting/accounting_context.h"
#include "accounting/helper_protocol.h"
#include "accounting/holds.h"
#include "accounting/ledger_access.h"
#include "accounting/settle_request.h"
#include "accounting/wallet.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace {

using Args = std::vector<std::string>;

void sanitize_environment() {
  if (!running_setuid()) return;
  ::setenv("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", 1);
  ::unsetenv("TZ");
  ::unsetenv("SHRIKE_LEDGER_HELPER");
}

// The ledger, which this helper must be able to write: it is installed setuid to its owner.
Ledger open_ledger(const AccountingContext& context) {
  if (!running_setuid() && !may_write_ledger_directly(context.ledger_path())) {
    fail_user("user '{}' may not write the ledger {} and shrike-ledger is not installed setuid to its owner. "
              "Ask the site admin to install it (slurm/README.md § Accounting).",
              context.caller().user, context.ledger_path().string());
  }
  return Ledger(context.ledger_path(), context.caller().user);
}

void need(const Args& args, std::size_t count, const char* usage) {
  if (args.size() != count) fail_user("usage: shrike-ledger {}", usage);
}

bool privileged(const AccountingContext& context) {
  return context.caller_is_admin() || caller_is_slurm_user(context.caller());
}

void require_account_access(const AccountingContext& context, const std::string& account) {
  if (context.config().may_use_account(context.caller().user, account) || privileged(context)) return;
  fail_user("user '{}' may not use account '{}' (only their own account and shared accounts that list them "
            "under accounts: in accounting.yaml).", context.caller().user, account);
}

void require_hold_owner(Ledger& ledger, const AccountingContext& context, const std::string& job_key) {
  const auto hold = find_hold(ledger, job_key);
  if (!hold) fail_user("no hold has the job key '{}'.", job_key);
  if (hold->user == context.caller().user || privileged(context)) return;
  fail_user("hold '{}' belongs to user '{}'; user '{}' may not change it.", job_key, hold->user, context.caller().user);
}

nlohmann::json run_hold(AccountingContext& context, const Args& args) {
  need(args, 2, "hold JSON");
  HoldRequest request = hold_request_from_json(parse_helper_output(args[1]));
  require_account_access(context, request.account);
  request.user = context.caller().user;  // the real user, whatever the request said
  Ledger ledger = open_ledger(context);
  return hold_grant_to_json(place_hold_in(ledger, context.config(), context.catalog(), request));
}

nlohmann::json run_bind_or_release(AccountingContext& context, const Args& args) {
  Ledger ledger = open_ledger(context);
  if (args[0] == "bind") {
    need(args, 4, "bind KEY CLUSTER JOBID");
    require_hold_owner(ledger, context, args[1]);
    bind_hold_in(ledger, args[1], args[2], args[3]);
    return {{"bound", args[1]}};
  }
  need(args, 2, "release KEY");
  require_hold_owner(ledger, context, args[1]);
  return {{"released_micro", release_hold_in(ledger, args[1], "released before the job ran")}};
}

nlohmann::json run_read(AccountingContext& context, const Args& args) {
  if (args[0] == "summary") need(args, 2, "summary ACCOUNT");
  else need(args, 3, "history ACCOUNT LIMIT");
  require_account_access(context, args[1]);
  Ledger ledger = open_ledger(context);
  if (args[0] == "summary") return balances_to_json(args[1], read_account_balances(ledger, args[1]));
  return history_to_json(account_history(ledger, args[1], std::atoi(args[2].c_str())));
}

nlohmann::json run_settle_for(AccountingContext& context, const Args& args) {
  if (!privileged(context)) {
    fail_user("user '{}' may not settle: settlement runs as root, SlurmUser (the epilog) or an accounting admin "
              "(accounting.yaml admins:).", context.caller().user);
  }
  return settle_result_to_json(run_settle_directly(settle_request_from_args(Args(args.begin() + 1, args.end()))));
}

nlohmann::json run_credit(AccountingContext& context, const Args& args) {
  need(args, 6, "credit topup|grant|refund ACCOUNT AMOUNT MEMO KEY");
  if (!context.caller_is_admin()) {
    fail_user("only accounting admins may {} credits; user '{}' is not root and not listed under admins: in {}.", args[1],
              context.caller().user, context.config().source.empty() ? "accounting.yaml" : context.config().source.string());
  }
  if (args[1] != "topup" && args[1] != "grant" && args[1] != "refund") fail_user("credit: unknown kind '{}'", args[1]);
  const WalletCredit kind = args[1] == "topup" ? WalletCredit::topup
                            : args[1] == "grant" ? WalletCredit::grant
                                                 : WalletCredit::refund;
  Ledger ledger = open_ledger(context);
  const bool posted = credit_wallet(ledger, context.config(), kind, args[2], parse_credits(args[3], "AMOUNT"), args[4], args[5]);
  nlohmann::json answer = balances_to_json(args[2], read_account_balances(ledger, args[2]));
  answer["posted"] = posted;
  return answer;
}

nlohmann::json dispatch(const Args& args) {
  if (args.empty()) fail_user("usage: shrike-ledger hold|bind|release|summary|history|settle|credit ...");
  AccountingContext context;
  const std::string& op = args[0];
  if (op == "hold") return run_hold(context, args);
  if (op == "bind" || op == "release") return run_bind_or_release(context, args);
  if (op == "summary" || op == "history") return run_read(context, args);
  if (op == "settle") return run_settle_for(context, args);
  if (op == "credit") return run_credit(context, args);
  fail_user("shrike-ledger: unknown operation '{}'.", op);
}

}  // namespace

}  // namespace shrike::accounting

int main(int argc, char** argv) {
  using namespace shrike;
  accounting::sanitize_environment();
  try {
    const nlohmann::json answer = accounting::dispatch(std::vector<std::string>(argv + 1, argv + argc));
    std::cout << answer.dump() << "\n";
    return kExitOk;
  } catch (const UserError& error) {
    std::cerr << "error: " << error.what() << "\n";
    return kExitUserError;
  } catch (const std::exception& error) {
    std::cerr << "internal error: " << error.what() << "\n";
    return kExitInternal;
  }
}
