// scheduler/submit_policy.h
//
// Who may start another training job: an account may have at most
// `max_active_jobs_per_account` running or pending jobs (scheduler_config.h; default 1,
// 0 = no limit). A sweep (one job array) counts once: it was one submission. The count
// is taken after the registry's states are refreshed from Slurm, so a job that ended a
// second ago no longer blocks the next.
#pragma once

#include <string>

#include "scheduler/job_registry.h"
#include "scheduler/scheduler_config.h"

namespace shrike::scheduler {

// Updates every active job of this cluster (slurm.conf ClusterName) in the registry from
// squeue (a registry in a home shared by two clusters keeps both); a job squeue no longer shows
// has ended, with the state of Slurm's record (jobcomp log or sacct) or "ended".
void refresh_job_states(JobRegistry& registry);

// Throws UserError when `account` already has the most active jobs it may have, naming
// them and the ways out (wait, `shrike stop JOB`, `shrike cancel JOB`, or the site's limit).
void check_active_job_limit(const JobRegistry& registry, const std::string& account, const SchedulerConfig& config);

}  // namespace shrike::scheduler
