// accounting/account_view.cpp: balances and history, direct or through the helper.
#include "accounting/account_view.h"

#include "accounting/accounting_context.h"
#include "accounting/helper_protocol.h"
#include "accounting/ledger_access.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

AccountBalances view_balances(const std::string& account) {
  AccountingContext context;
  if (!fs::exists(context.ledger_path())) return {};
  if (may_write_ledger_directly(context.ledger_path())) {
    Ledger ledger(context.ledger_path(), context.caller().user);
    return read_account_balances(ledger, account);
  }
  return balances_from_json(parse_helper_output(call_ledger_helper(context.ledger_path(), {"summary", account})));
}

std::vector<HistoryRow> view_history(const std::string& account, int limit) {
  AccountingContext context;
  if (!fs::exists(context.ledger_path())) return {};
  if (may_write_ledger_directly(context.ledger_path())) {
    Ledger ledger(context.ledger_path(), context.caller().user);
    return account_history(ledger, account, limit);
  }
  return history_from_json(parse_helper_output(
      call_ledger_helper(context.ledger_path(), {"history", account, std::to_string(limit)})));
}

CreditOutcome credit_account(WalletCredit kind, const std::string& account, Micro amount, const std::string& memo,
                             const std::string& key) {
  const char* verb = kind == WalletCredit::topup ? "topup" : kind == WalletCredit::grant ? "grant" : "refund";
  AccountingContext context;
  if (!may_write_ledger_directly(context.ledger_path())) {
    const nlohmann::json answer = parse_helper_output(call_ledger_helper(
        context.ledger_path(), {"credit", verb, account, format_credits_exact(amount), memo, key}));
    return {answer.at("posted").get<bool>(), balances_from_json(answer)};
  }
  if (!context.caller_is_admin()) {
    fail_user("only accounting admins may {} credits; user '{}' is not root and not listed under admins: in {}. "
              "Ask an admin.", verb, context.caller().user,
              context.config().source.empty() ? "accounting.yaml" : context.config().source.string());
  }
  Ledger ledger(context.ledger_path(), context.caller().user);
  const bool posted = credit_wallet(ledger, context.config(), kind, account, amount, memo, key);
  return {posted, read_account_balances(ledger, account)};
}

}  // namespace shrike::accounting
