// dashboard/job_registry_view.h
//
// The job registry ($SHRIKE_HOME/jobs.db, scheduler/job_registry.h) as the dashboard
// reads it: which Slurm job trains which run folder and what Slurm last said about it
// (a job still pending in the queue has no run folder yet). scheduler::JobRegistry
// creates and migrates the file when it opens it, which a viewer must never do, so
// the table is read here on a SQLITE_OPEN_READONLY connection. No registry (no job
// was ever submitted) is a normal state.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace shrike::dashboard {

struct JobView {
  std::string cluster, job_id, account, project, run, run_dir, instance, state, reason, submitted_at, updated_at;
  int gpus = 0, nodes = 0;
  double elapsed_seconds = 0;
};

class RegistryView {
 public:
  explicit RegistryView(std::filesystem::path path);  // usually scheduler::JobRegistry::default_path()

  const std::filesystem::path& path() const { return path_; }
  bool present() const;
  // Every job, newest first; empty with a note when the file cannot be read.
  std::vector<JobView> jobs(std::string& note) const;

 private:
  std::filesystem::path path_;
};

nlohmann::json job_view_json(const JobView& job);

}  // namespace shrike::dashboard
