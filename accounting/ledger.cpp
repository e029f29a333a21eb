// accounting/ledger.cpp: opening the ledger file, posting balanced transactions, and
// the invariant check.
#include "accounting/ledger.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>


#include "accounting/ledger_schema.h"
#include "accounting/time_text.h"
#include "pipeline/core/error.h"
#include "pipeline/core/utc_time.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

namespace {

// Creates the ledger's folder (0700) and an empty file (0600) so that SQLite never
// creates it with the process umask (a ledger readable by everyone).
const fs::path& create_private_file(const fs::path& path) {
  if (fs::exists(path)) return path;
  const fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (!fs::exists(folder)) {
    std::error_code error;
    fs::create_directories(folder, error);
    if (error) {
      fail_user("cannot create the ledger's folder {}: {}. Create it, or point SHRIKE_LEDGER elsewhere.",
                folder.string(), error.message());
    }
    ::chmod(folder.c_str(), 0700);
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno != EEXIST) {
    fail_user("cannot create the ledger {}: {}. Check the folder's permissions, or point SHRIKE_LEDGER "
              "elsewhere.", path.string(), errno_text(errno));
  }
  if (fd >= 0) ::close(fd);
  return path;
}

std::string account_kind(const std::string& name) {
  if (name.rfind("wallet:", 0) == 0 && name.size() > 7) return "wallet";
  if (name.rfind("hold:", 0) == 0 && name.size() > 5) return "hold";
  if (name == kRevenueAccount) return "revenue";
  if (name == kPromotionsAccount) return "promotions";
  if (name == kPaymentsAccount) return "payments";
  fail_internal("'{}' is not a ledger account name", name);
}

void validate(const TransactionSpec& spec) {
  if (spec.key.empty()) fail_internal("transaction of kind {} has no idempotency key", spec.kind);
  if (spec.entries.size() < 2) fail_internal("transaction {} has {} entries (at least 2)", spec.key, spec.entries.size());
  Micro sum = 0;
  for (const EntrySpec& entry : spec.entries) {
    if (entry.amount > kMaxAmountMicro || entry.amount < -kMaxAmountMicro) {
      fail_user("{}: an amount of {} credits is beyond what one ledger operation may move (10^9 credits). "
                "Nothing was written.", spec.key, format_credits_exact(entry.amount));
    }
    sum = checked_add(sum, entry.amount, spec.key);
  }
  if (sum != 0) fail_internal("transaction {} does not balance: its entries sum to {} micro-credits", spec.key, sum);
}

}  // namespace

std::string wallet_account(std::string_view account) { return "wallet:" + std::string(account); }
std::string hold_account(std::string_view job_key) { return "hold:" + std::string(job_key); }

Ledger::Ledger(const fs::path& path, std::string actor)
    : db_(create_private_file(path), Database::Mode::read_write_create), actor_(std::move(actor)) {
  {
    Statement wal = db_.prepare("PRAGMA journal_mode = WAL");
    if (!wal.step() || wal.column_text(0) != "wal") {
      fail_user("the ledger {} cannot use write-ahead logging (journal_mode is '{}'); keep it on a local "
                "file system, not NFS.", path.string(), wal.column_text(0));
    }
  }  // finalized: a live statement would keep the migration below from committing
  db_.exec("PRAGMA synchronous = FULL");
  db_.exec("PRAGMA foreign_keys = ON");
  migrate_ledger_schema(db_);
}

std::int64_t Ledger::account_id(const std::string& name) {
  Statement select = db_.prepare("SELECT id FROM accounts WHERE name = ?");
  if (select.bind(1, name).step()) return select.column_int64(0);
  db_.prepare("INSERT INTO accounts (name, kind, created_at) VALUES (?, ?, ?)")
      .bind(1, name).bind(2, account_kind(name)).bind(3, utc_timestamp_now()).run();
  return db_.last_insert_rowid();
}

bool Ledger::has_transaction(std::string_view key) {
  Statement select = db_.prepare("SELECT 1 FROM transactions WHERE idempotency_key = ?");
  return select.bind(1, key).step();
}

std::optional<Micro> Ledger::balance(std::string_view account_name) {
  Statement select = db_.prepare("SELECT balance_micro FROM accounts WHERE name = ?");
  if (!select.bind(1, account_name).step()) return std::nullopt;
  return select.column_int64(0);
}

bool Ledger::post(const TransactionSpec& spec) {
  validate(spec);
  if (has_transaction(spec.key)) return false;
  const Attribution& a = spec.attribution;
  db_.prepare("INSERT INTO transactions (idempotency_key, kind, created_at, actor, memo, account, user, project, run, "
              "instance, cluster, job_id, usage_day, gpu_seconds, amount_micro) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, spec.key).bind(2, spec.kind).bind(3, utc_timestamp_now()).bind(4, actor_).bind(5, spec.memo)
      .bind(6, a.account).bind(7, a.user).bind(8, a.project).bind(9, a.run).bind(10, a.instance)
      .bind(11, a.cluster).bind(12, a.job_id).bind(13, a.usage_day.empty() ? utc_day_now() : a.usage_day)
      .bind(14, a.gpu_seconds).bind(15, spec.amount)
      .run();
  const std::int64_t txn_id = db_.last_insert_rowid();
  for (const EntrySpec& entry : spec.entries) {
    const std::int64_t id = account_id(entry.account);
    Statement current = db_.prepare("SELECT balance_micro FROM accounts WHERE id = ?");
    current.bind(1, id).step();
    const Micro balance = checked_add(current.column_int64(0), entry.amount, spec.key + " (" + entry.account + ")");
    db_.prepare("INSERT INTO entries (txn_id, account_id, amount_micro) VALUES (?, ?, ?)")
        .bind(1, txn_id).bind(2, id).bind(3, entry.amount).run();
    db_.prepare("UPDATE accounts SET balance_micro = ? WHERE id = ?").bind(1, balance).bind(2, id).run();
  }
  return true;
}

std::vector<std::string> check_ledger_invariants(Ledger& ledger) {
  Database& db = ledger.db();
  ReadTransaction snapshot(db);
  std::vector<std::string> problems;
  Statement unbalanced = db.prepare(
      "SELECT t.idempotency_key, coalesce(sum(e.amount_micro), 0), count(e.id) FROM transactions t "
      "LEFT JOIN entries e ON e.txn_id = t.id GROUP BY t.id HAVING coalesce(sum(e.amount_micro), 0) != 0 OR count(e.id) < 2");
  while (unbalanced.step()) {
    problems.push_back(fmt::format("transaction {} has {} entries summing to {} micro-credits (must be >= 2, summing to 0)",
                                   unbalanced.column_text(0), unbalanced.column_int64(2), unbalanced.column_int64(1)));
  }
  Statement balances = db.prepare(
      "SELECT a.name, a.balance_micro, coalesce(sum(e.amount_micro), 0) FROM accounts a "
      "LEFT JOIN entries e ON e.account_id = a.id GROUP BY a.id HAVING a.balance_micro != coalesce(sum(e.amount_micro), 0)");
  while (balances.step()) {
    problems.push_back(fmt::format("account {} shows balance {} but its entries sum to {} micro-credits",
                                   balances.column_text(0), balances.column_int64(1), balances.column_int64(2)));
  }
  Statement holds = db.prepare(
      "SELECT h.job_key, h.state, coalesce(a.balance_micro, 0) FROM holds h LEFT JOIN accounts a ON a.name = 'hold:' || h.job_key "
      "WHERE coalesce(a.balance_micro, 0) < 0 OR (h.state = 'closed' AND coalesce(a.balance_micro, 0) != 0)");
  while (holds.step()) {
    problems.push_back(fmt::format("hold {} ({}) has {} micro-credits left", holds.column_text(0), holds.column_text(1),
                                   holds.column_int64(2)));
  }
  Statement total = db.prepare("SELECT coalesce(sum(amount_micro), 0) FROM entries");
  if (total.step() && total.column_int64(0) != 0) {
    problems.push_back(fmt::format("all entries sum to {} micro-credits (must be 0)", total.column_int64(0)));
  }
  Statement segments = db.prepare(
      "SELECT coalesce((SELECT sum(charged_micro) FROM segment_charges), 0), "
      "coalesce((SELECT sum(amount_micro) FROM transactions WHERE kind = 'charge'), 0)");
  if (segments.step() && segments.column_int64(0) != segments.column_int64(1)) {
    problems.push_back(fmt::format("segments record {} micro-credits charged but charge transactions total {}",
                                   segments.column_int64(0), segments.column_int64(1)));
  }
  return problems;
}

}  // namespace shrike::accounting
