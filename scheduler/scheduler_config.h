// scheduler/scheduler_config.h
//
// The site's scheduling policy: the `scheduler:` section of accounting.yaml (in the
// site configuration folder, pipeline/core/config_dir.h), read here with yaml-cpp
// because accounting owns the rest of that file and must not know about Slurm jobs:
//
//   scheduler:
//     max_active_jobs_per_account: 1   # running or pending training jobs per account (0: no limit)
//     min_time_limit_minutes: 5        # a job's --time is never below this plus the signal lead
//     signal_lead_seconds: 120         # --signal=B:USR1@N: the trainer's warning to checkpoint
//     time_margin: 1.5                 # time limit = estimate x margin (when --time is not given)
//
// A missing file or section means these defaults. Bad values are errors naming the file,
// line and key.
#pragma once

#include <filesystem>

namespace shrike::scheduler {

struct SchedulerConfig {
  std::filesystem::path source;        // the file read; empty when defaults
  int max_active_jobs_per_account = 1;
  int min_time_limit_minutes = 5;
  int signal_lead_seconds = 120;
  double time_margin = 1.5;
};

SchedulerConfig load_scheduler_config();                                 // config_dir()/accounting.yaml
SchedulerConfig load_scheduler_config(const std::filesystem::path& file);

}  // namespace shrike::scheduler
