// accounting/settle_plan.h
//
// What to charge, from where (issue 8 § Charging): local runs from their usage.json
// segments; Slurm jobs from Slurm's record (one segment per run of the job, keyed by
// cluster, job id and requeue count), priced with the instance and GPUs recorded on
// the hold at submit, because the run folder is the user's to edit. A job that
// failed before training started (no usage segment, failed within the startup
// grace) costs nothing; a job still running is settled when it ends. Each run folder,
// and each job, is settled in its own transaction; all run folders are read and
// checked before anything is written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "accounting/accounting_config.h"
#include "accounting/instance_catalog.h"
#include "accounting/ledger.h"
#include "accounting/settlement.h"
#include "accounting/slurm_record.h"

namespace shrike::accounting {

struct SettleOptions {
  SlurmRecordSource slurm;
  std::string cluster;        // for --job: the cluster of the job id ("" = the hold's)
  bool from_usage = false;    // Slurm jobs without a Slurm record: charge usage.json (admins)
  std::string default_user;   // usage.json's account/user when absent
  std::int64_t now = 0;       // unix seconds
};

// Settles each run folder (usage.json inside it). All are read and validated first.
SettleResult settle_run_dirs(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                             const std::vector<std::filesystem::path>& run_dirs, const SettleOptions& options);

// Settles one Slurm job from Slurm's record and its hold (the epilog's call).
SettleResult settle_slurm_job(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                              const std::string& job_id, const SettleOptions& options);

// Settles every job whose hold is still open and bound to a Slurm job id.
SettleResult settle_open_jobs(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                              const SettleOptions& options);

}  // namespace shrike::accounting
