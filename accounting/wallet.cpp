// accounting/wallet.cpp: opening accounts, crediting wallets, balances and history.
#include "accounting/wallet.h"

#include <fmt/core.h>
#include <unistd.h>

#include <chrono>

#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace {

std::string fresh_key(const char* kind, const std::string& account) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return fmt::format("{}:{}:{}:{}", kind, account,
                     std::chrono::duration_cast<std::chrono::nanoseconds>(now).count(), getpid());
}

void require_account_name(const std::string& account) {
  if (account.empty() || account.size() > 128 ||
      account.find_first_of(" \t\n\r:") != std::string::npos) {
    fail_user("'{}' is not an account name (1-128 characters, no spaces or ':').", account);
  }
}

}  // namespace

bool ensure_account_open(Ledger& ledger, const AccountingConfig& config, const std::string& account) {
  require_account_name(account);
  const std::string key = "open:" + account;
  if (ledger.has_transaction(key)) return false;
  TransactionSpec spec;
  spec.key = key;
  spec.kind = "open";
  spec.memo = fmt::format("account opened with {} free credits", format_credits(config.free_credits_micro));
  spec.attribution.account = account;
  spec.amount = config.free_credits_micro;
  spec.entries = {{kPromotionsAccount, -config.free_credits_micro}, {wallet_account(account), config.free_credits_micro}};
  return ledger.post(spec);
}

bool credit_wallet(Ledger& ledger, const AccountingConfig& config, WalletCredit kind, const std::string& account,
                   Micro amount, const std::string& memo, const std::string& key) {
  if (amount <= 0) {
    fail_user("the amount must be positive (got {} credits); to undo a top-up or grant use "
              "`shrike credits reverse KEY`.", format_credits_exact(amount));
  }
  const char* kind_name = kind == WalletCredit::topup ? "topup" : kind == WalletCredit::grant ? "grant" : "refund";
  const char* source = kind == WalletCredit::topup   ? kPaymentsAccount
                       : kind == WalletCredit::grant ? kPromotionsAccount
                                                     : kRevenueAccount;
  ImmediateTransaction transaction(ledger.db());
  ensure_account_open(ledger, config, account);
  TransactionSpec spec;
  spec.key = key.empty() ? fresh_key(kind_name, account) : std::string(kind_name) + ":" + key;
  spec.kind = kind_name;
  spec.memo = memo;
  spec.attribution.account = account;
  spec.amount = amount;
  spec.entries = {{source, -amount}, {wallet_account(account), amount}};
  const bool posted = ledger.post(spec);
  transaction.commit();
  return posted;
}

void reverse_credit(Ledger& ledger, const std::string& key, const std::string& memo) {
  ImmediateTransaction transaction(ledger.db());
  Statement original = ledger.db().prepare(
      "SELECT id, kind, account, amount_micro FROM transactions WHERE idempotency_key = ?");
  if (!original.bind(1, key).step()) {
    fail_user("no transaction has the key '{}'. `shrike credits history --account A` lists the keys.", key);
  }
  const std::string kind = original.column_text(1);
  if (kind != "topup" && kind != "grant") {
    fail_user("transaction '{}' is a {}; only top-ups and grants can be reversed (refund a charge with "
              "`shrike credits refund`).", key, kind);
  }
  TransactionSpec spec;
  spec.key = "reverse:" + key;
  spec.kind = "reversal";
  spec.memo = memo.empty() ? "reverses " + key : memo;
  spec.attribution.account = original.column_text(2);
  spec.amount = original.column_int64(3);
  Statement entries = ledger.db().prepare(
      "SELECT a.name, e.amount_micro FROM entries e JOIN accounts a ON a.id = e.account_id WHERE e.txn_id = ?");
  entries.bind(1, original.column_int64(0));
  while (entries.step()) spec.entries.push_back({entries.column_text(0), -entries.column_int64(1)});
  if (!ledger.post(spec)) fail_user("transaction '{}' was already reversed.", key);
  transaction.commit();
}

AccountBalances read_account_balances(Ledger& ledger, const std::string& account) {
  ReadTransaction snapshot(ledger.db());
  return read_account_balances(ledger.db(), account);
}

AccountBalances read_account_balances(Database& db, const std::string& account) {
  AccountBalances balances;
  Statement wallet = db.prepare("SELECT balance_micro FROM accounts WHERE name = ?");
  if (!wallet.bind(1, wallet_account(account)).step()) return balances;
  balances.exists = true;
  balances.available = wallet.column_int64(0);
  Statement held = db.prepare(
      "SELECT coalesce(sum(a.balance_micro), 0) FROM holds h JOIN accounts a ON a.name = 'hold:' || h.job_key "
      "WHERE h.account = ? AND h.state = 'open'");
  if (held.bind(1, account).step()) balances.held = held.column_int64(0);
  Statement credited = db.prepare(
      "SELECT coalesce(sum(CASE WHEN kind = 'reversal' THEN -amount_micro ELSE amount_micro END), 0) "
      "FROM transactions WHERE account = ? AND kind IN ('open', 'topup', 'grant', 'refund', 'reversal')");
  if (credited.bind(1, account).step()) balances.credited = credited.column_int64(0);
  return balances;
}

std::vector<HistoryRow> account_history(Ledger& ledger, const std::string& account, int limit) {
  return account_history(ledger.db(), account, limit);
}

std::vector<HistoryRow> account_history(Database& db, const std::string& account, int limit) {
  std::vector<HistoryRow> rows;
  Statement select = db.prepare(
      "SELECT t.created_at, t.kind, t.idempotency_key, t.memo, t.job_id, t.instance, t.amount_micro, t.gpu_seconds, "
      "coalesce((SELECT sum(e.amount_micro) FROM entries e JOIN accounts a ON a.id = e.account_id "
      "          WHERE e.txn_id = t.id AND a.name = ?), 0) "
      "FROM transactions t WHERE t.account = ? ORDER BY t.id DESC LIMIT ?");
  select.bind(1, wallet_account(account)).bind(2, account).bind(3, limit);
  while (select.step()) {
    HistoryRow row;
    row.time = select.column_text(0);
    row.kind = select.column_text(1);
    row.key = select.column_text(2);
    row.memo = select.column_text(3);
    row.job_id = select.column_text(4);
    row.instance = select.column_text(5);
    row.amount = select.column_int64(6);
    row.gpu_seconds = select.column_int64(7);
    row.wallet_change = select.column_int64(8);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> wallet_names(Ledger& ledger) {
  std::vector<std::string> names;
  Statement select = ledger.db().prepare("SELECT substr(name, 8) FROM accounts WHERE kind = 'wallet' ORDER BY name");
  while (select.step()) names.push_back(select.column_text(0));
  return names;
}

}  // namespace shrike::accounting
