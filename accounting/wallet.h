// accounting/wallet.h
//
// Wallet operations on an open ledger: opening an account with the site's free
// credits on first use, top-ups (paid credits), grants (promotional credits), refunds
// of charges, reversals of a mistaken top-up or grant, and reading balances and
// history. Each write is one idempotent ledger transaction inside its own
// ImmediateTransaction. Who may call them is decided by the caller (CLI, helper).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "accounting/accounting_config.h"
#include "accounting/ledger.h"

namespace shrike::accounting {

// Posts the "open:<account>" transaction (free credits: promotions -> wallet) unless
// it exists. Call inside an ImmediateTransaction. Returns true when opened now.
bool ensure_account_open(Ledger& ledger, const AccountingConfig& config, const std::string& account);

enum class WalletCredit { topup, grant, refund };

// Moves `amount` (> 0) into the account's wallet from payments (topup), promotions
// (grant) or revenue (refund). `key` makes a retry safe ("" = a fresh key). Returns
// false when `key` was used before (nothing written).
bool credit_wallet(Ledger& ledger, const AccountingConfig& config, WalletCredit kind, const std::string& account,
                   Micro amount, const std::string& memo, const std::string& key);

// Reverses a top-up or grant (its entries negated, key "reverse:<key>"). Throws
// UserError when `key` is unknown or not a top-up/grant.
void reverse_credit(Ledger& ledger, const std::string& key, const std::string& memo);

struct AccountBalances {
  bool exists = false;
  Micro available = 0;  // the wallet: what new jobs may hold
  Micro held = 0;       // reserved by open holds
  Micro credited = 0;   // everything ever put in (free credits, top-ups, grants, refunds)
  Micro balance() const { return available + held; }
};
AccountBalances read_account_balances(Ledger& ledger, const std::string& account);
// The same query inside the caller's transaction, on any open ledger database (the
// dashboard's is opened read-only and never migrated).
AccountBalances read_account_balances(Database& db, const std::string& account);

struct HistoryRow {
  std::string time, kind, key, memo, job_id, instance;
  Micro wallet_change = 0;  // effect on the wallet (holds move credits out of it)
  Micro amount = 0;         // the transaction's headline amount
  std::int64_t gpu_seconds = 0;
};
// The account's transactions, newest first (at most `limit`).
std::vector<HistoryRow> account_history(Ledger& ledger, const std::string& account, int limit);
std::vector<HistoryRow> account_history(Database& db, const std::string& account, int limit);

// All wallets' names (without "wallet:").
std::vector<std::string> wallet_names(Ledger& ledger);

}  // namespace shrike::accounting
