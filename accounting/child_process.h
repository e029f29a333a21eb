// accounting/child_process.h
//
// Running a program and collecting its output: the setuid ledger helper (from the
// library, when this process may not write the ledger) and `sacct`. A few lines of
// posix_spawn + poll rather than a library: Boost.Process is not among the Debian
// packages shrike builds with, and this needs no shell, so no argument is ever
// interpreted by one.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace shrike::accounting {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by one
  std::string out, err;
};

// Runs `program` (a path, or a name looked up in PATH) with `args`; waits for it.
// nullopt when it cannot be started (not found, not executable).
std::optional<ProcessResult> run_process(const std::string& program, const std::vector<std::string>& args);

// `name` found in PATH (or empty).
std::filesystem::path find_in_path(const std::string& name);

}  // namespace shrike::accounting
