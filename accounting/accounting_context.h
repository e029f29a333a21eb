// accounting/accounting_context.h
//
// Everything one accounting command needs, found once: the policy (accounting.yaml),
// the instance catalogue (loaded on first use), the ledger's path and who is asking.
// Inside the setuid helper it also enforces what the helper may believe: config
// files and the ledger must be owned by root or the helper's owner and writable by no
// one else (caller_identity.h), so the environment cannot redirect it.
#pragma once

#include <filesystem>
#include <optional>

#include "accounting/accounting_config.h"
#include "accounting/caller_identity.h"
#include "accounting/instance_catalog.h"

namespace shrike::accounting {

class AccountingContext {
 public:
  AccountingContext();  // loads config, resolves the ledger path, reads the caller

  const AccountingConfig& config() const { return config_; }
  const InstanceCatalog& catalog();
  const std::filesystem::path& ledger_path() const { return ledger_path_; }
  const Caller& caller() const { return caller_; }
  bool caller_is_admin() const;

 private:
  AccountingConfig config_;
  std::optional<InstanceCatalog> catalog_;
  std::filesystem::path ledger_path_;
  Caller caller_;
};

}  // namespace shrike::accounting
