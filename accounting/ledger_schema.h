// accounting/ledger_schema.h
//
// The ledger's tables and their migrations. The schema carries its version in
// `schema_version`; opening a ledger applies the migrations it lacks, in one
// transaction, and refuses a ledger written by a newer shrike. Migrations are only
// ever appended: a released version's SQL is never edited.
#pragma once

namespace shrike::accounting {

class Database;

// The version this build writes.
int current_schema_version();
// Brings `db` to current_schema_version() (no-op when already there).
void migrate_ledger_schema(Database& db);

}  // namespace shrike::accounting
