// accounting/ledger.h
//
// The double-entry ledger over SQLite: accounts, transactions and their entries. A
// transaction moves micro-credits between accounts and its entries sum to zero; each
// carries an idempotency key (UNIQUE), so posting the same key twice writes once.
// Entries are never edited (triggers refuse it); corrections are reversing
// transactions. Posting happens inside the caller's ImmediateTransaction, so a
// settlement's charge and its bookkeeping commit together or not at all.
//
// Account names: "wallet:<account>" (what a user or group may spend), "hold:<job key>"
// (credits reserved for one job), "site:revenue" (charges), "site:promotions" (free
// credits and grants, goes negative), "site:payments" (top-ups, goes negative).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "accounting/money.h"
#include "accounting/sqlite_db.h"

namespace shrike::accounting {

inline constexpr const char* kRevenueAccount = "site:revenue";
inline constexpr const char* kPromotionsAccount = "site:promotions";
inline constexpr const char* kPaymentsAccount = "site:payments";
std::string wallet_account(std::string_view account);
std::string hold_account(std::string_view job_key);

// What reports group a transaction by.
struct Attribution {
  std::string account, user, project, run, instance, cluster, job_id;
  std::string usage_day;        // YYYY-MM-DD the compute ran (default: today, UTC)
  std::int64_t gpu_seconds = 0;  // GPU-seconds this transaction charges for
};

struct EntrySpec {
  std::string account;  // full account name ("wallet:alice")
  Micro amount = 0;     // positive: credits arrive in the account
};

struct TransactionSpec {
  std::string key;   // idempotency key, unique across the ledger
  std::string kind;  // open, topup, grant, hold, charge, release, refund
  std::string memo;
  Attribution attribution;
  Micro amount = 0;  // the transaction's headline amount (what reports sum), >= 0
  std::vector<EntrySpec> entries;
};

class Ledger {
 public:
  // Opens `path` (creating it, mode 0600, and its folder, mode 0700, when missing),
  // sets WAL, synchronous=FULL and the busy timeout, and migrates the schema. `actor`
  // is recorded on every transaction (the real user running the command).
  Ledger(const std::filesystem::path& path, std::string actor);

  Database& db() { return db_; }
  const std::filesystem::path& path() const { return db_.path(); }
  const std::string& actor() const { return actor_; }

  // Posts `spec` inside the caller's ImmediateTransaction. Returns false, writing
  // nothing, when spec.key was posted before. Throws UserError when the entries do not
  // sum to zero or an amount or balance would overflow.
  bool post(const TransactionSpec& spec);
  bool has_transaction(std::string_view key);
  // The cached balance of an account (the sum of its entries); nullopt when unknown.
  std::optional<Micro> balance(std::string_view account_name);

 private:
  std::int64_t account_id(const std::string& name);

  Database db_;
  std::string actor_;
};

// Everything that must hold in a ledger: each transaction's entries sum to zero and
// match its kind, every cached balance equals the sum of its entries, closed holds are
// empty, no hold is negative, and segment charges match the charges posted. Returns
// one line per problem (empty when the ledger is consistent).
std::vector<std::string> check_ledger_invariants(Ledger& ledger);

}  // namespace shrike::accounting
