// accounting/holds.h
//
// Holds on an open ledger: credits moved from an account's wallet into the job's own
// hold account ("hold:<job key>") at submit, so two jobs of one account never spend
// the same credits. The hold is the job's credit limit. Settlement charges from the
// hold (and from the wallet for any excess) and, when the job has ended, releases
// what is left back to the wallet. These are the direct implementations; the
// functions of credit_service.h choose between them and the setuid helper.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "accounting/accounting_config.h"
#include "accounting/credit_service.h"
#include "accounting/instance_catalog.h"
#include "accounting/ledger.h"

namespace shrike::accounting {

struct HoldRecord {
  std::string job_key, account, user, project, run, run_dir, instance, state;
  std::string cluster, job_id;  // empty until bound
  int gpus = 0;
  bool timed = false;
  double estimated_seconds = 0;
  Micro hold_micro = 0;
  Micro rate_micro_per_hour = 0;
  Micro remaining_micro = 0;  // what the hold account still holds
  std::string created_at;
};

// What place_hold would hold for `request` given `available` micro-credits (pure; no
// ledger). Throws UserError when the account cannot start the job.
Micro hold_amount_for(const HoldRequest& request, const AccountingConfig& config, Micro rate_micro_per_hour,
                      Micro available);

HoldGrant place_hold_in(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                        const HoldRequest& request);
void bind_hold_in(Ledger& ledger, const std::string& job_key, const std::string& cluster, const std::string& job_id);
// Returns the micro-credits released (0 when already closed). Idempotent.
Micro release_hold_in(Ledger& ledger, const std::string& job_key, const std::string& why);
// The same, inside the caller's ImmediateTransaction (settlement).
Micro release_hold_locked(Ledger& ledger, const std::string& job_key, const std::string& why);

std::optional<HoldRecord> find_hold(Ledger& ledger, const std::string& job_key);
// Holds bound to Slurm job `job_id` (of `cluster`, or of any cluster when empty).
std::vector<HoldRecord> find_holds_by_job(Ledger& ledger, const std::string& cluster, const std::string& job_id);
// Holds in `state` ("open", "closed" or "" for all), bound to a job or not.
std::vector<HoldRecord> list_holds(Ledger& ledger, const std::string& state);

}  // namespace shrike::accounting
