// scheduler/job_control.cpp: stop, cancel, and the resubmission checks.
#include "scheduler/job_control.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "accounting/credit_service.h"
#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/core/utc_time.h"
#include "scheduler/slurm_client.h"
#include "scheduler/submit_policy.h"

namespace shrike::scheduler {

namespace fs = std::filesystem;

namespace {

// A pending job that never ran: its id appears in no segment of the run's usage.json
// (a requeued job is pending again, but its earlier start is recorded there).
bool never_started(const JobRecord& job) {
  if (job.state != "pending") return false;
  const std::string id = job.raw_job_id.empty() ? job.job_id : job.raw_job_id;
  std::ifstream in(fs::path(job.run_dir) / "usage.json");
  if (!in) return true;
  const nlohmann::json usage = nlohmann::json::parse(in, nullptr, false);
  if (usage.is_discarded() || !usage.is_object()) return false;  // unreadable: assume it ran
  if (usage.value("job_id", std::string()) == id) return false;
  for (const auto& segment : usage.value("segments", nlohmann::json::array())) {
    if (segment.is_object() && segment.value("job_id", std::string()) == id) return false;
  }
  return true;
}

// Releases the hold of a job that never ran; a failure is reported, not fatal (the
// job is gone either way, and `shrike accounting settle` releases holds of ended jobs).
std::string release_unused_hold(const JobRecord& job) {
  if (job.hold_key.empty()) return "";
  try {
    accounting::release_hold(job.hold_key);
    return "; its credit hold was released";
  } catch (const std::exception& error) {
    return fmt::format("; releasing its credit hold failed ({}), settlement will release it", error.what());
  }
}

std::vector<std::string> end_jobs(JobRegistry& registry, const std::vector<JobRecord>& jobs, const std::string& user,
                                  const SetRunState& set_run_state, bool cancel) {
  const std::string action = cancel ? "cancel" : "stop";
  std::vector<std::string> done;
  for (const JobRecord& job : jobs) {
    if (!is_active_state(job.state)) {
      done.push_back(fmt::format("job {} has already ended ({}); nothing to {}", job.job_id, job.state, action));
      continue;
    }
    write_stop_request(job.run_dir, action, job.job_id, user);
    registry.mark_stop_requested(job, action + " requested by " + user);
    if (never_started(job)) {
      scancel_job(job.job_id);
      const std::string state = cancel ? "cancelled" : "stopped";
      registry.update_state(job, "cancelled", action + " before it started", 0, "");
      set_run_state(job, state, fmt::format("{} by {} before the job started", cancel ? "cancelled" : "stopped", user));
      done.push_back(fmt::format("job {} had not started: cancelled{}", job.job_id, release_unused_hold(job)));
    } else if (cancel) {
      scancel_job(job.job_id);
      done.push_back(fmt::format("job {}: cancelled (the trainer saves a checkpoint on Slurm's SIGTERM; {} stays "
                                 "resumable with `shrike resume`)",
                                 job.job_id, job.run_dir));
    } else {
      signal_job_steps(job.job_id, "TERM");
      done.push_back(fmt::format("job {}: asked to checkpoint and stop; resume with `shrike resume {}`", job.job_id,
                                 job.run_dir));
    }
  }
  return done;
}

}  // namespace

std::vector<std::string> stop_jobs(JobRegistry& registry, const std::vector<JobRecord>& jobs, const std::string& user,
                                   const SetRunState& set_run_state) {
  return end_jobs(registry, jobs, user, set_run_state, false);
}

std::vector<std::string> cancel_jobs(JobRegistry& registry, const std::vector<JobRecord>& jobs,
                                     const std::string& user, const SetRunState& set_run_state) {
  return end_jobs(registry, jobs, user, set_run_state, true);
}

void write_stop_request(const fs::path& run_dir, const std::string& action, const std::string& job_id,
                        const std::string& user) {
  if (!fs::is_directory(run_dir)) {
    fail_user("the run folder {} of job {} does not exist any more; cancel the job with `scancel {}`.",
              run_dir.string(), job_id, job_id);
  }
  const nlohmann::ordered_json request = {
      {"action", action}, {"job_id", job_id}, {"user", user}, {"time", utc_timestamp_now()}};
  write_file_atomically(run_dir / kStopRequestFile, request.dump(2) + "\n");
}

void clear_stop_request(const fs::path& run_dir) {
  std::error_code error;
  fs::remove(run_dir / kStopRequestFile, error);
  if (error) {
    fail_user("cannot remove {} ({}); without that the job would not start.", (run_dir / kStopRequestFile).string(),
              error.message());
  }
}

std::vector<JobRecord> jobs_named(JobRegistry& registry, const std::string& id) {
  if (id.empty() || id.find_first_not_of("0123456789_") != std::string::npos) {
    fail_user("'{}' is not a Slurm job id (123, or 123_4 for a task of a job array). `shrike jobs` lists yours.", id);
  }
  refresh_job_states(registry);
  std::vector<JobRecord> jobs = registry.find(id);
  const std::string cluster = slurm_cluster_name();
  std::erase_if(jobs, [&](const JobRecord& job) { return job.cluster != cluster; });  // ids repeat across clusters
  if (jobs.empty()) {
    fail_user("no job {} was submitted with shrike by you on cluster {} (registry {}). `shrike jobs --all` lists "
              "them; for other jobs use scancel.",
              id, cluster, registry.path().string());
  }
  return jobs;
}

void check_resumable(JobRegistry& registry, const fs::path& run_dir, const std::string& run_state) {
  if (!fs::exists(run_dir / "weights" / "last.h5")) {
    fail_user("{} has no weights/last.h5 to resume from (the run never saved a checkpoint); submit the experiment "
              "again with `shrike submit`.",
              run_dir.string());
  }
  if (run_state == "completed") {
    fail_user("{} has completed; there is nothing to resume. Train longer with a new run (model={}/weights/last.h5 "
              "as the base model).",
              run_dir.string(), run_dir.string());
  }
  if (const std::optional<JobRecord> job = registry.latest_for_run(run_dir.string()); job && is_active_state(job->state)) {
    fail_user("job {} of {} is still {}; stop it first (`shrike stop {}`) or wait for it.", job->job_id,
              run_dir.string(), job->state, job->job_id);
  }
}

}  // namespace shrike::scheduler
