// accounting/settle_request.h
//
// One `shrike accounting settle` invocation as data, so the CLI and the setuid helper
// run exactly the same settlement: what to settle (run folders, one Slurm job, or all
// open jobs), where Slurm's record is, and how long to wait for it (an epilog may run
// before slurmctld has written the job's completion record). Routed like the hold
// functions: directly when this process may write the ledger, else through the
// helper, which allows it only to root, SlurmUser and accounting admins.
#pragma once

#include <string>
#include <vector>

#include "accounting/settlement.h"

namespace shrike::accounting {

struct SettleRequest {
  std::vector<std::string> run_dirs;
  std::string job_id, cluster, jobcomp, sacct_file;
  bool all = false;          // every open hold bound to a Slurm job
  bool from_usage = false;   // Slurm jobs without a record: charge usage.json
  int wait_seconds = 0;      // --job: wait this long for Slurm's record of the job's end
};

std::vector<std::string> settle_request_to_args(const SettleRequest& request);
SettleRequest settle_request_from_args(const std::vector<std::string>& args);

// Runs the settlement on the ledger this process may write.
SettleResult run_settle_directly(const SettleRequest& request);
// Directly or through the helper.
SettleResult run_settle(const SettleRequest& request);

}  // namespace shrike::accounting
