// scheduler/job_registry.h
//
// The job registry: every training job shrike submitted for this user, in SQLite at
// $SHRIKE_HOME/jobs.db (SHRIKE_HOME defaults to ~/.shrike). It maps a Slurm job id to
// its run folder, account, instance type and credit hold, and remembers what Slurm
// last said about it, so `shrike jobs`, `stop`, `cancel` and `resume JOB` work by job id
// and the policy can count an account's active jobs. Slurm stays the authority on job
// states: the registry caches them and refresh_job_states() (submit_policy.h) updates
// them. One row per Slurm job (per task for a job array: "123_0", "123_1" ...).
// Schema version in PRAGMA user_version; writes are transactions (accounting's SQLite
// layer), safe for two shrike commands at once.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shrike::accounting {
class Database;
}

namespace shrike::scheduler {

struct JobRecord {
  std::string cluster;
  std::string job_id;          // "123", or "123_4" for a task of array 123
  std::string array_job_id;    // "123" for array tasks, else empty
  std::string raw_job_id;      // Slurm's own id of the job (differs for array tasks), once known
  std::string account, user, project, run;
  std::string run_dir;         // absolute
  std::string instance;
  int gpus = 1, nodes = 1;
  std::string hold_key;        // the accounting hold ("<cluster>:<run uuid>")
  std::string state = "pending";  // Slurm's state in lower case, as last seen
  std::string reason;          // Slurm's reason, or ours ("stop requested")
  double elapsed_seconds = 0;  // as last seen
  std::string submitted_at, updated_at;  // ISO 8601 UTC
  bool stop_requested = false;
  std::string resumed_from;    // the job this one continues (shrike resume)
  std::string model;
  int imgsz = 0;
  double gflops_per_image = 0; // forward GFLOPs at imgsz (for throughput estimates)
};

// Pending, running and the other states in which a job still holds or will hold resources.
bool is_active_state(const std::string& state);

class JobRegistry {
 public:
  // $SHRIKE_HOME/jobs.db, SHRIKE_HOME defaulting to ~/.shrike.
  static std::filesystem::path default_path();
  explicit JobRegistry(const std::filesystem::path& path = default_path());
  ~JobRegistry();
  JobRegistry(const JobRegistry&) = delete;
  JobRegistry& operator=(const JobRegistry&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Records new jobs in one transaction (a sweep's tasks together).
  void add(const std::vector<JobRecord>& jobs);
  // The jobs `id` names: one job ("123", "123_4"), or every task of array "123".
  std::vector<JobRecord> find(const std::string& id) const;
  // The newest job of a run folder.
  std::optional<JobRecord> latest_for_run(const std::string& run_dir) const;
  // Every job, newest first; only `account`'s when it is not empty.
  std::vector<JobRecord> list(const std::string& account = "") const;
  std::vector<JobRecord> active() const;

  void update_state(const JobRecord& job, const std::string& state, const std::string& reason, double elapsed_seconds,
                    const std::string& raw_job_id);
  void mark_stop_requested(const JobRecord& job, const std::string& reason);

 private:
  std::vector<JobRecord> query(const std::string& where, const std::vector<std::string>& params) const;

  std::filesystem::path path_;
  std::unique_ptr<accounting::Database> db_;
};

}  // namespace shrike::scheduler
