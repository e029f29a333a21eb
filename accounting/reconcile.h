// accounting/reconcile.h
//
// `shrike accounting reconcile`: the ledger against what Slurm recorded (jobcomp log
// or sacct). It lists jobs that ran but were not charged, charges whose job Slurm
// does not know, GPU-time mismatches beyond the tolerance, and ended jobs whose hold
// is still open. Only jobs shrike knows (a hold or a charge) are compared; other
// jobs on the cluster are counted, not listed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "accounting/accounting_config.h"
#include "accounting/ledger.h"
#include "accounting/slurm_record.h"

namespace shrike::accounting {

struct ReconcileFinding {
  std::string kind;  // not_charged, no_slurm_record, gpu_time_mismatch, open_hold_after_end
  std::string job;   // "<cluster>:<job id>"
  std::int64_t slurm_gpu_seconds = 0, charged_gpu_seconds = 0;
  std::string detail;
};

struct ReconcileResult {
  std::string source;
  int jobs_compared = 0, other_jobs = 0;
  std::vector<ReconcileFinding> findings;
};

ReconcileResult reconcile_with_slurm(Ledger& ledger, const AccountingConfig& config,
                                     const std::vector<SlurmJobRecord>& records, const std::string& source);

// `format`: table or json.
std::string render_reconcile(const ReconcileResult& result, const std::string& format);

}  // namespace shrike::accounting
