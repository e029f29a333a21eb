// pipeline/cli/submission_plan.h
//
// The plan of a submission, before anything is created: who pays (user, account,
// Slurm account), which instance type (given, or recommended with its reasons), how
// many nodes and GPUs, what the job asks of Slurm (partition, GRES, CPUs, memory, time
// limit, signal lead), and the estimated duration and cost with the arithmetic. It is
// what `shrike submit --dry-run` prints, and what the submission then carries out;
// the batch script is rendered from it (scheduler/sbatch_render.h).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "accounting/accounting_config.h"
#include "accounting/instance_catalog.h"
#include "pipeline/cli/submission_inputs.h"
#include "pipeline/train/experiment.h"
#include "scheduler/run_estimate.h"
#include "scheduler/sbatch_render.h"
#include "scheduler/scheduler_config.h"

namespace shrike::cli {

// What the user asked on the command line (or what a resubmission inherits).
struct PlanRequest {
  std::string instance;      // "" = recommend one
  int gpus = 1;              // GPUs (CPU processes for `cpu`) in all
  int nodes = 1;
  double time_hours = 0;     // --time: the Slurm time limit; 0 = from the estimate
  std::string account;       // --account; "" = the experiment's account:, else the user
  bool budget = false;       // --budget: the cheapest GPU when recommending
  int epochs_remaining = -1; // a resubmission: epochs left to train (-1: the experiment's)
};

struct JobPlan {
  std::string user, account, slurm_account, cluster;
  accounting::InstanceType instance;
  std::vector<std::string> instance_reasons;  // empty when --instance was given
  int gpus = 1, nodes = 1, gpus_per_node = 1;
  double credits_per_gpu_hour = 0, money_per_gpu_hour = 0;
  std::string currency;
  scheduler::RunEstimate estimate;
  bool timed = false;  // time= training
  scheduler::SchedulerConfig scheduler;
  int time_limit_minutes = 0;
  std::string time_limit_why;
  double hold_hours = 0;       // what a run's hold covers: one start of the job (its time limit)
  double hold_credits = 0;     // hold_hours x GPUs x credits per GPU-hour (accounting caps it at the balance)
};

// Checks the request against the experiment, the catalogue and the site's policy, and
// plans the job. Throws UserError naming what does not fit (an unknown instance, GPUs
// that do not divide among nodes, a batch that does not divide among GPUs, an account
// the user may not charge).
JobPlan make_job_plan(const PlanRequest& request, const train::Experiment& experiment,
                      const TrainingWorkload& workload, const std::vector<scheduler::ThroughputSample>& past);

// The batch script's settings for `plan` (runs and output are the caller's).
scheduler::BatchScriptSpec batch_spec_for(const JobPlan& plan, const std::string& job_name);

// The plan as the user reads it (instance and why, resources, estimate, time limit,
// runs).
std::string format_plan(const JobPlan& plan, const std::vector<std::filesystem::path>& run_dirs,
                        const TrainingWorkload& workload);

// The run folder `RunFolder::create(project, name, exist_ok=false)` would claim now
// (name, name2, name3 ...), without claiming it (for --dry-run).
std::filesystem::path predicted_run_dir(const std::filesystem::path& project_dir, const std::string& name);

// Absolute path of the running `shrike` binary (/proc/self/exe).
std::filesystem::path current_shrike_binary();

}  // namespace shrike::cli
