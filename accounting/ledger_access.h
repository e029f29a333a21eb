// accounting/ledger_access.h
//
// How this process reaches the ledger: directly when it may write the ledger file
// (its owner, root, a single-user setup), otherwise through the setuid helper
// `shrike-ledger`, which acts only for the real user. The helper is found as
// SHRIKE_LEDGER_HELPER, else next to this executable, else in PATH.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace shrike::accounting {

// True when this process can write the ledger (or create it) itself.
bool may_write_ledger_directly(const std::filesystem::path& ledger);

std::filesystem::path ledger_helper_path();

// Runs the helper with `args`; returns its standard output. Its "error: ..." becomes
// a UserError with the same message; a missing helper is a UserError saying how to
// deploy it.
std::string call_ledger_helper(const std::filesystem::path& ledger, const std::vector<std::string>& args);

}  // namespace shrike::accounting
