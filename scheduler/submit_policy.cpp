// scheduler/submit_policy.cpp: refreshing job states and the per-account limit.
#include "scheduler/submit_policy.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "pipeline/core/error.h"
#include "scheduler/slurm_client.h"

namespace shrike::scheduler {

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// squeue shows an array that has not started yet as one line "123_[0-3]": it stands
// for each of its tasks.
const LiveJob* find_live(const std::map<std::string, LiveJob>& live, const JobRecord& job) {
  if (const auto found = live.find(job.job_id); found != live.end()) return &found->second;
  if (!job.array_job_id.empty()) {
    for (const auto& [id, entry] : live) {
      if (id.rfind(job.array_job_id + "_[", 0) == 0) return &entry;
    }
  }
  return nullptr;
}

}  // namespace

void refresh_job_states(JobRegistry& registry) {
  std::vector<JobRecord> active = registry.active();
  const std::string cluster = slurm_cluster_name();
  std::erase_if(active, [&](const JobRecord& job) { return job.cluster != cluster; });  // another cluster's squeue
  if (active.empty()) return;
  const std::map<std::string, LiveJob> live = squeue_all_jobs();
  for (const JobRecord& job : active) {
    if (const LiveJob* seen = find_live(live, job)) {
      const bool whole_array = seen->job_id != job.job_id;  // "123_[0-3]": no own id yet
      registry.update_state(job, lower(seen->state), seen->reason == "None" ? "" : seen->reason,
                            slurm_elapsed_seconds(seen->elapsed), whole_array ? "" : seen->raw_job_id);
      continue;
    }
    const std::string raw = job.raw_job_id.empty() ? job.job_id : job.raw_job_id;
    if (const std::optional<EndedJob> ended = ended_job_record(raw)) {
      registry.update_state(job, lower(ended->state), "", ended->elapsed_seconds, "");
    } else {
      registry.update_state(job, "ended", "no longer known to squeue", job.elapsed_seconds, "");
    }
  }
}

void check_active_job_limit(const JobRegistry& registry, const std::string& account, const SchedulerConfig& config) {
  if (config.max_active_jobs_per_account <= 0) return;
  std::set<std::string> submissions;  // a job array counts once
  std::vector<std::string> listed;
  for (const JobRecord& job : registry.active()) {
    if (job.account != account) continue;
    const std::string submission = job.array_job_id.empty() ? job.job_id : job.array_job_id;
    if (submissions.insert(submission).second) {
      listed.push_back(fmt::format("{} ({}, {})", submission, job.state, job.run_dir));
    }
  }
  if (static_cast<int>(submissions.size()) < config.max_active_jobs_per_account) return;
  std::string jobs;
  for (const std::string& line : listed) jobs += "\n  " + line;
  fail_user("account '{}' already has {} running or pending training job(s), the most this site allows{}:{}\n"
            "Wait for it to finish (`shrike jobs`), stop it (`shrike stop JOB`, resumable) or cancel it "
            "(`shrike cancel JOB`).",
            account, submissions.size(),
            config.source.empty() ? std::string(" (scheduler.max_active_jobs_per_account, default 1)")
                                  : fmt::format(" ({}: scheduler.max_active_jobs_per_account = {})",
                                                config.source.string(), config.max_active_jobs_per_account),
            jobs);
}

}  // namespace shrike::scheduler
