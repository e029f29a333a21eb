// accounting/account_view.h
//
// An account for `shrike credits`: balances and history (a user sees their own and
// their shared accounts), and top-ups, grants and refunds (accounting admins only:
// root or accounting.yaml `admins:`, by the REAL uid). Routed like the hold
// functions: directly when this process may write the ledger, else through the helper.
#pragma once

#include <string>
#include <vector>

#include "accounting/wallet.h"

namespace shrike::accounting {

AccountBalances view_balances(const std::string& account);
std::vector<HistoryRow> view_history(const std::string& account, int limit);

struct CreditOutcome {
  bool posted = false;  // false: `key` was used before, nothing written
  AccountBalances balances;
};
CreditOutcome credit_account(WalletCredit kind, const std::string& account, Micro amount, const std::string& memo,
                             const std::string& key);

}  // namespace shrike::accounting
