// pipeline/cli/resume_dispatch.h
//
// How `shrike resume` (cmd_val.cpp) chooses between continuing a run here, in the
// foreground, and resubmitting it to Slurm (cmd_job_control.cpp). Slurm when: --submit
// or --dry-run is given, the argument is a job id, or the registry says the run was
// submitted through Slurm (unless --local, or when running inside a Slurm job: that is
// the batch script resuming its own run).
#pragma once

#include "pipeline/cli/command_table.h"

namespace shrike::cli {

bool resume_goes_to_slurm(const Args& args);
int resume_through_slurm(const Args& args);
// `args` without --local (what the local resume forwards to `shrike train`).
Args without_local_flag(const Args& args);

}  // namespace shrike::cli
