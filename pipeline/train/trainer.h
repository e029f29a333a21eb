// pipeline/train/trainer.h
//
// `shrike train`: from an experiment to a trained, validated model in a run folder.
// One process here (data parallelism plugs in through the same loop later). The loop
// is the reference's (spec § 3): warmup and LR schedule per iteration, gradient
// accumulation to the nominal batch, clipping, the optimizer step and the EMA update,
// validation of the EMA weights each epoch, best/last/epochN checkpoints, early stop
// (patience), timed training (time=), a credit limit, and the signals Slurm sends.
// Every checkpoint records where the loop is, so a resumed run continues exactly
// (bit-identical on CPU), also from the middle of an epoch.
//
// Outcomes and exit codes: completed 0 (also after an early stop or the time limit);
// paused on the credit limit 3; stopped by SIGTERM/SIGINT 4; preempted by SIGUSR1
// (Slurm's warning, `--signal=B:USR1@...`: requeue and resume) 5. A second signal
// exits at once; files are replaced atomically, so nothing is corrupted.
// Test hook: SHRIKE_STOP_AT_ITERATION=N stops (as SIGTERM does) after iteration N.
#pragma once

#include <filesystem>
#include <string>

#include "pipeline/dist/communicator.h"
#include "pipeline/dist/mpi_context.h"
#include "pipeline/train/experiment.h"

namespace shrike::train {

inline constexpr int kExitPaused = 3;
inline constexpr int kExitStopped = 4;
inline constexpr int kExitPreempted = 5;

struct TrainOutcome {
  std::string state;   // completed, paused, stopped, preempted
  std::string reason;
  int exit_code = 0;
  std::filesystem::path run_dir;
  double best_fitness = 0;
};

// `comm` may be null (one process). With several ranks (mpirun / srun), every rank
// calls this; rank 0 writes the run folder and validates.
// `mpi` (the process's MPI context) lets GPU ranks bootstrap NCCL; null: no GPU data parallelism.
TrainOutcome run_training(const Experiment& experiment, dist::Communicator* comm = nullptr,
                          const dist::MpiContext* mpi = nullptr);

// The checkpoint that `resume` points at (resume=true with model= a checkpoint, or
// resume=PATH, or a run folder), or empty when the run is not a resume.
std::filesystem::path resume_checkpoint(const Experiment& experiment);

}  // namespace shrike::train
