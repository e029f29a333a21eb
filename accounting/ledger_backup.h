// accounting/ledger_backup.h
//
// `shrike accounting backup FILE`: a consistent copy of the live ledger with the
// SQLite online backup API (writers keep going; the copy is one committed state),
// written to a temporary name, checked with PRAGMA integrity_check, then renamed into
// place with mode 0600.
#pragma once

#include <filesystem>

namespace shrike::accounting {

class Ledger;

// Returns the number of pages copied.
int backup_ledger(Ledger& ledger, const std::filesystem::path& destination);

}  // namespace shrike::accounting
