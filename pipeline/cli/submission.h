// pipeline/cli/submission.h
//
// Carrying out a plan (submission_plan.h): `shrike submit` and `shrike resume ...
// --submit`. In order, so that a failure at any step leaves nothing behind:
//   1. Slurm is installed (else: say so, show the equivalent local command);
//   2. the account's active jobs are under the site's limit (scheduler/submit_policy.h);
//   3. the run folders are created (state `pending`, config.yaml resolved, paths absolute);
//   4. accounting places one credit hold per run (its credit limit and rate go to the trainer);
//   5. the batch script is rendered into each run folder and `sbatch --parsable` submits it;
//   6. the holds are bound to the job id, the job recorded in the registry, the run
//      folders' status.json name the job.
// If 3-5 fail (sbatch refusing a bad partition, say), the holds are released and the
// new run folders removed: nothing is charged or recorded. Steps 2-6 hold a lock file in
// SHRIKE_HOME, so two submissions at once cannot both pass the policy check.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/cli/submission_plan.h"

namespace shrike::cli {

struct SubmitRequest {
  std::string experiment_file;          // may be empty (all settings as key=value)
  std::vector<std::string> overrides;   // key=value
  std::vector<std::string> sweeps;      // key=v1,v2
  PlanRequest plan;
  bool dry_run = false;
};

// `shrike submit`: returns the exit code.
int submit_training(const SubmitRequest& request);

// `shrike resume RUN_DIR --submit`: resubmits a stopped, preempted, paused or failed run
// to continue from its weights/last.h5, with the instance, GPUs and account of its last
// job (or of its config.yaml), after the same checks as a submission.
int resubmit_run(const std::filesystem::path& run_dir, bool dry_run);

}  // namespace shrike::cli
