// accounting/credit_service.h
//
// What the scheduler (and `shrike jobs`) asks of accounting: place a hold when a job is
// submitted, bind it to the Slurm job id after sbatch, release it when the job never
// ran, and read an account's balance (docs: /work/notes/accounting-api.md).
// Each function writes the ledger itself when this process may write the ledger file,
// and otherwise goes through the setuid helper `shrike-ledger` (ledger_helper_main.cpp),
// which acts only for the real user's accounts. Amounts are credits (doubles) at this
// interface; the ledger keeps integer micro-credits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace shrike::accounting {

struct HoldRequest {
  std::string job_key;  // unique per submission (the scheduler uses "<cluster>:<run uuid>")
  std::string account, user, project, run;
  std::string instance;           // catalogue id
  int gpus = 1;                   // GPUs (or CPU processes for `cpu`) of the job
  double estimated_seconds = 0;   // the scheduler's estimate (or time= limit) of wall time
  bool timed = false;             // time= training: hold the full estimate
  std::string run_dir;            // optional: the run folder (absolute), for settlement notes
};

struct HoldGrant {
  std::int64_t hold_micro = 0;  // micro-credits held
  double credit_limit = 0;      // credits the trainer may spend (pass as credit_limit=)
  double rate_per_hour = 0;     // credits per GPU-hour in force now (pass as rate=)
  double balance_after = 0;     // available balance after the hold, credits
};

// Opens the account on first use (free credits), refuses with UserError (naming the
// balance, the minimum and `shrike credits topup`) when the available balance is below the
// configured minimum; idempotent on job_key (a repeat returns the same grant).
HoldGrant place_hold(const HoldRequest& request);
// After sbatch: records the Slurm job id (and cluster) for this hold, for settlement.
void bind_hold_to_job(const std::string& job_key, const std::string& cluster, const std::string& job_id);
// Releases what is left of a hold (sbatch failed, or the job was cancelled before it ran).
void release_hold(const std::string& job_key);

// Balance summary for `shrike jobs` and the dashboard (credits).
struct AccountSummary {
  std::string account;
  double balance = 0, held = 0, available = 0;
  bool exists = false;
  double credited = 0;  // everything ever put in (free credits, top-ups, grants, refunds)
};
AccountSummary account_summary(const std::string& account);

// A one-line warning when `account` has spent 80% or 100% of its credits (for `shrike
// jobs` and the job log); nullopt when neither threshold is passed or the account is
// unknown. Never throws for a missing or unreadable ledger (returns nullopt).
std::optional<std::string> balance_alert(const std::string& account);

}  // namespace shrike::accounting
