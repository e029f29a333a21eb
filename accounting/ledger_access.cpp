// accounting/ledger_access.cpp: the direct-or-helper decision and the helper call.
#include "accounting/ledger_access.h"

#include <unistd.h>

#include <cstdlib>

#include "accounting/child_process.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

namespace {

bool writable(const fs::path& path) { return ::access(path.c_str(), W_OK) == 0; }

fs::path own_executable_folder() {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  return error ? fs::path() : self.parent_path();
}

}  // namespace

bool may_write_ledger_directly(const fs::path& ledger) {
  const fs::path folder = ledger.parent_path().empty() ? fs::path(".") : ledger.parent_path();
  if (fs::exists(ledger)) return writable(ledger) && writable(folder);
  // Not created yet: we create it when we can create the folder or write in it.
  fs::path existing = folder;
  while (!existing.empty() && !fs::exists(existing)) existing = existing.parent_path();
  return existing.empty() || writable(existing);
}

fs::path ledger_helper_path() {
  if (const char* path = std::getenv("SHRIKE_LEDGER_HELPER"); path != nullptr && *path != '\0') return path;
  if (const fs::path folder = own_executable_folder(); !folder.empty() && fs::exists(folder / "shrike-ledger")) {
    return folder / "shrike-ledger";
  }
  return find_in_path("shrike-ledger");
}

std::string call_ledger_helper(const fs::path& ledger, const std::vector<std::string>& args) {
  const fs::path helper = ledger_helper_path();
  if (helper.empty()) {
    fail_user("you may not write the ledger {} and the helper `shrike-ledger` was not found (next to shrike, "
              "in PATH or as SHRIKE_LEDGER_HELPER). Ask the site admin to install it setuid to the ledger's "
              "owner (slurm/README.md § Accounting).", ledger.string());
  }
  const auto result = run_process(helper.string(), args);
  if (!result) fail_user("cannot run the ledger helper {}: check that it exists and is executable.", helper.string());
  if (result->exit_code == 0) return result->out;
  std::string message = result->err;
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (message.rfind("error: ", 0) == 0) message = message.substr(7);
  if (result->exit_code == 1) throw UserError(message);
  fail_internal("the ledger helper {} failed (exit {}): {}", helper.string(), result->exit_code, message);
}

}  // namespace shrike::accounting
