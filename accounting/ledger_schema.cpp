// accounting/ledger_schema.cpp: schema version 1 and the migration runner.
//
// Tables (amounts are integer micro-credits):
//   accounts        one row per account: wallets ("wallet:alice"), holds ("hold:<job key>"),
//                   the site's revenue, promotions (free credits, grants) and payments
//                   (top-ups); balance_micro is a cache of the sum of its entries, kept in
//                   the same transaction and checked by `shrike accounting check`.
//   transactions    one row per ledger transaction, with its UNIQUE idempotency key and
//                   what reports group by (account, user, project, run, instance, job).
//   entries         the double-entry lines; a transaction's entries sum to zero. Triggers
//                   refuse UPDATE and DELETE: corrections are new, reversing transactions.
//   holds           one row per submitted job: what was held, for which Slurm job, open
//                   or closed (state, not money: the money is in the hold account).
//   segment_charges what each usage segment has been charged so far (seconds and
//                   micro-credits), so a settle charges only the difference.
#include "accounting/ledger_schema.h"

#include <array>

#include "accounting/sqlite_db.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace {

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('wallet', 'hold', 'revenue', 'promotions', 'payments')),
  balance_micro INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE transactions (
  id INTEGER PRIMARY KEY,
  idempotency_key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('open', 'topup', 'grant', 'hold', 'charge', 'release', 'refund', 'reversal')),
  created_at TEXT NOT NULL,
  actor TEXT NOT NULL,
  memo TEXT NOT NULL DEFAULT '',
  account TEXT NOT NULL,
  user TEXT NOT NULL DEFAULT '',
  project TEXT NOT NULL DEFAULT '',
  run TEXT NOT NULL DEFAULT '',
  instance TEXT NOT NULL DEFAULT '',
  cluster TEXT NOT NULL DEFAULT '',
  job_id TEXT NOT NULL DEFAULT '',
  usage_day TEXT NOT NULL DEFAULT '',
  gpu_seconds INTEGER NOT NULL DEFAULT 0,
  amount_micro INTEGER NOT NULL
);
CREATE INDEX transactions_account ON transactions (account);
CREATE INDEX transactions_job ON transactions (cluster, job_id);
CREATE INDEX transactions_kind_day ON transactions (kind, usage_day);
CREATE TABLE entries (
  id INTEGER PRIMARY KEY,
  txn_id INTEGER NOT NULL REFERENCES transactions (id),
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  amount_micro INTEGER NOT NULL
);
CREATE INDEX entries_txn ON entries (txn_id);
CREATE INDEX entries_account ON entries (account_id);
CREATE TRIGGER entries_never_updated BEFORE UPDATE ON entries
  BEGIN SELECT RAISE(ABORT, 'ledger entries are never edited; post a reversing transaction'); END;
CREATE TRIGGER entries_never_deleted BEFORE DELETE ON entries
  BEGIN SELECT RAISE(ABORT, 'ledger entries are never deleted; post a reversing transaction'); END;
CREATE TRIGGER transactions_never_updated BEFORE UPDATE ON transactions
  BEGIN SELECT RAISE(ABORT, 'ledger transactions are never edited'); END;
CREATE TRIGGER transactions_never_deleted BEFORE DELETE ON transactions
  BEGIN SELECT RAISE(ABORT, 'ledger transactions are never deleted'); END;
CREATE TABLE holds (
  job_key TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  user TEXT NOT NULL,
  project TEXT NOT NULL DEFAULT '',
  run TEXT NOT NULL DEFAULT '',
  run_dir TEXT NOT NULL DEFAULT '',
  instance TEXT NOT NULL,
  gpus INTEGER NOT NULL,
  timed INTEGER NOT NULL,
  estimated_seconds REAL NOT NULL,
  hold_micro INTEGER NOT NULL,
  rate_micro_per_hour INTEGER NOT NULL,
  cluster TEXT,
  job_id TEXT,
  state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
  created_at TEXT NOT NULL,
  closed_at TEXT
);
CREATE UNIQUE INDEX holds_slurm_job ON holds (cluster, job_id) WHERE job_id IS NOT NULL;
CREATE TABLE segment_charges (
  segment_key TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  instance TEXT NOT NULL,
  gpus INTEGER NOT NULL,
  start_unix INTEGER NOT NULL,
  charged_seconds INTEGER NOT NULL,
  charged_micro INTEGER NOT NULL,
  source TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
)sql";

// Index i holds the SQL that takes a ledger from version i to version i + 1.
constexpr std::array kMigrations{kSchemaV1};

int read_version(Database& db) {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  Statement select = db.prepare("SELECT version FROM schema_version");
  if (!select.step()) {
    db.exec("INSERT INTO schema_version (version) VALUES (0)");
    return 0;
  }
  return static_cast<int>(select.column_int64(0));
}

bool already_current(Database& db) {
  Statement table = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
  if (!table.step() || table.column_int64(0) == 0) return false;
  Statement select = db.prepare("SELECT version FROM schema_version");
  return select.step() && select.column_int64(0) == current_schema_version();
}

}  // namespace

int current_schema_version() { return static_cast<int>(kMigrations.size()); }

void migrate_ledger_schema(Database& db) {
  if (already_current(db)) return;  // the common case: no write lock taken
  ImmediateTransaction transaction(db);
  const int version = read_version(db);
  if (version > current_schema_version()) {
    fail_user("the ledger {} has schema version {}, written by a newer shrike (this one knows up to {}). "
              "Use the newer shrike.", db.path().string(), version, current_schema_version());
  }
  if (version == current_schema_version()) return;  // read-only transaction, rolled back
  for (int step = version; step < current_schema_version(); ++step) db.exec(kMigrations[step]);
  db.prepare("UPDATE schema_version SET version = ?").bind(1, current_schema_version()).run();
  transaction.commit();
}

}  // namespace shrike::accounting
