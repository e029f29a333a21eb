// accounting/accounting_context.cpp: loading config and identity, with the setuid checks.
#include "accounting/accounting_context.h"

#include "pipeline/core/config_dir.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

AccountingContext::AccountingContext() {
  const fs::path config_file = config_dir() / "accounting.yaml";
  // A site deployment always has an accounting.yaml; the setuid helper will not fall back
  // to defaults (a folder without one could otherwise change the policy it applies).
  if (running_setuid()) require_trusted_file(config_file, "accounting config");
  config_ = load_accounting_config(config_file);
  ledger_path_ = resolve_ledger_path(config_);
  if (running_setuid()) {
    if (fs::exists(ledger_path_)) {
      require_trusted_file(ledger_path_, "ledger");
    } else {
      require_trusted_file(ledger_path_.parent_path(), "ledger folder");
    }
  }
  caller_ = real_caller();
}

const InstanceCatalog& AccountingContext::catalog() {
  if (!catalog_) {
    const fs::path file = config_dir() / "instances.yaml";
    if (running_setuid()) require_trusted_file(file, "instance catalogue");
    catalog_ = load_instance_catalog(file);
  }
  return *catalog_;
}

bool AccountingContext::caller_is_admin() const { return accounting::caller_is_admin(caller_, config_); }

}  // namespace shrike::accounting
