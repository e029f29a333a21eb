// scheduler/slurm_client.h
//
// The Slurm commands shrike runs, each through accounting::run_process (no shell, so no
// argument is ever interpreted): sbatch (submit), squeue (states of live and recently
// ended jobs), scancel (cancel, or signal a job's steps), scontrol (the cluster name),
// and, for jobs squeue no longer knows, Slurm's own record of how they ended (the
// jobcomp/filetxt log or sacct, read by accounting/slurm_record.h). A command that fails
// is a UserError quoting its message, so "invalid partition specified" reaches the user
// as Slurm said it.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shrike::scheduler {

// sbatch in PATH (Slurm's client commands are installed here).
bool slurm_installed();

// `sbatch --parsable SCRIPT` run in `workdir`. Returns the job id ("123"; for a job
// array the array's id). Throws UserError with sbatch's message when it refuses.
std::string sbatch_submit(const std::filesystem::path& script, const std::filesystem::path& workdir);

// A job as squeue shows it.
struct LiveJob {
  std::string job_id;      // "123", or "123_4" for an array task (squeue %i)
  std::string raw_job_id;  // Slurm's own id (squeue %A): differs for array tasks
  std::string state;       // PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT ...
  std::string elapsed;     // squeue %M ("1:02:03", "0:00")
  std::string reason;      // squeue %r ("None", "Priority", "BeginTime" ...)
};

// Every job squeue knows (with -t all: also those ended within MinJobAge), by job_id.
// Throws UserError when Slurm cannot be reached.
std::map<std::string, LiveJob> squeue_all_jobs();

// `scancel JOB`: cancels a pending or running job (all tasks of an array "123").
void scancel_job(const std::string& job_id);
// `scancel --signal=SIG JOB`: sends SIG to the job's steps only (not the batch shell).
void signal_job_steps(const std::string& job_id, const std::string& signal);

// The cluster's name (slurm.conf ClusterName), "slurm" when it has none.
std::string slurm_cluster_name();

// How a job that squeue no longer shows ended, from Slurm's record (jobcomp log or
// sacct): its last state ("COMPLETED", "CANCELLED" ...) and seconds run over all its
// starts; nullopt when there is no record (or no record source on this site).
struct EndedJob {
  std::string state;
  double elapsed_seconds = 0;
};
std::optional<EndedJob> ended_job_record(const std::string& raw_job_id);

// "1-02:03:04", "02:03:04", "03:04" (squeue %M) -> seconds; 0 when unparsable.
double slurm_elapsed_seconds(const std::string& text);

}  // namespace shrike::scheduler
