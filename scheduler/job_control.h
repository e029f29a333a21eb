// scheduler/job_control.h
//
// Stopping and cancelling submitted jobs, and the checks before a run is resubmitted.
//  - stop: the run should end now but stay resumable. The request is recorded first
//    (RUN/stop_requested, which the batch script reads, and the registry), then a job
//    that runs gets SIGTERM on its steps: the trainer checkpoints and exits 4 (state
//    stopped), the script sees the request and does not requeue, and Slurm's record
//    ends the job's charges. A job that has not started is cancelled outright.
//  - cancel: the same record, then `scancel`: the job ends (a running trainer still
//    checkpoints on the SIGTERM Slurm sends).
// In both cases a job that never started has its credit hold released at once.
//  - resume: a run may be resubmitted when it has weights/last.h5, did not complete, and
//    no job of it is pending or running.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "scheduler/job_registry.h"

namespace shrike::scheduler {

inline constexpr const char* kStopRequestFile = "stop_requested";

// Called for a job that never started, with the run state its folder should get
// ("stopped" or "cancelled") and the reason; the run folder belongs to the caller.
using SetRunState = std::function<void(const JobRecord& job, const std::string& state, const std::string& reason)>;

// What was done to each job, one line each, for the user.
std::vector<std::string> stop_jobs(JobRegistry& registry, const std::vector<JobRecord>& jobs, const std::string& user,
                                   const SetRunState& set_run_state);
std::vector<std::string> cancel_jobs(JobRegistry& registry, const std::vector<JobRecord>& jobs,
                                     const std::string& user, const SetRunState& set_run_state);

// Writes RUN/stop_requested ({"action", "job_id", "user", "time"}) atomically.
void write_stop_request(const std::filesystem::path& run_dir, const std::string& action, const std::string& job_id,
                        const std::string& user);
// Removes RUN/stop_requested (before a resubmission).
void clear_stop_request(const std::filesystem::path& run_dir);

// The jobs `id` names in the registry (refreshed from Slurm), or a UserError saying
// none was submitted from here with that id and how to list them.
std::vector<JobRecord> jobs_named(JobRegistry& registry, const std::string& id);

// Throws UserError unless `run_dir` can be resubmitted (see the header comment).
// `run_state` is its status.json state ("" when unreadable). The registry's states
// should be fresh (refresh_job_states).
void check_resumable(JobRegistry& registry, const std::filesystem::path& run_dir, const std::string& run_state);

}  // namespace shrike::scheduler
