// accounting/settlement.h
//
// Charging compute that ran. A usage segment is one uninterrupted stretch of training
// (for Slurm jobs: one run of the job, as Slurm recorded it). Its end grows while it
// runs, so settlement is incremental: segment_charges keeps, per segment key, the
// seconds and micro-credits charged so far, and a settle charges only the difference,
// in the same transaction as the update (a repeat charges 0). Charges come out of the
// job's hold first and out of the wallet for any excess (a running job may take a
// balance below zero); when the job has ended, the rest of its hold is released.
// All of one call happens in one BEGIN IMMEDIATE transaction, so concurrent settles
// (epilogs, cron, an admin) serialize and a kill at any instant leaves all or nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "accounting/accounting_config.h"
#include "accounting/instance_catalog.h"
#include "accounting/ledger.h"

namespace shrike::accounting {

struct ChargeSegment {
  std::string segment_key;  // "<cluster>:<job id>:run<N>" or "<cluster>:local:<account>/<project>/<run>:<start>"
  Attribution who;          // account, user, project, run, instance, cluster, job_id
  int gpus = 0;
  std::int64_t start = 0, end = 0;  // unix seconds
  std::string hold_key;             // charge this job's hold first ("" = the wallet only)
  std::string source;               // "usage.json", "jobcomp", "sacct"
};

struct SegmentResult {
  std::string segment_key;
  std::int64_t seconds_before = 0, seconds_after = 0;
  Micro charged = 0;
  std::string note;
};

struct SettleResult {
  std::vector<SegmentResult> segments;
  std::vector<std::string> notes;    // why something was not charged
  std::vector<std::string> closed;   // holds closed
  Micro charged = 0, released = 0;
  void add(const SettleResult& other);
};

// Charges each segment's uncharged part and closes `holds_to_close`, in one
// ImmediateTransaction. Throws UserError (nothing written) when a segment contradicts
// what was charged before (other GPUs, instance or account) or would overflow.
SettleResult charge_segments(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                             const std::vector<ChargeSegment>& segments, const std::vector<std::string>& holds_to_close);

}  // namespace shrike::accounting
