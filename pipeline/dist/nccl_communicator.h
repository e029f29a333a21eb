// pipeline/dist/nccl_communicator.h
//
// The data plane on GPUs (DESIGN.md § Processes): collectives on device buffers
// through NCCL, bootstrapped over MPI (rank 0's ncclUniqueId broadcast with
// MPI_Bcast, then ncclCommInitRank), one GPU per process chosen from the node-local
// rank. Control-plane calls (barrier, gather, broadcast of host bytes) go to the MPI
// communicator it wraps. Collectives run on the communicator's own stream; waits
// poll the stream and ncclCommGetAsyncError against the deadline, and a peer that
// died makes this rank call ncclCommAbort and then end the job through MPI, as the
// MPI backend does: no rank waits forever on a collective a dead peer never joins.
//
// Built only with the CUDA backend (SHRIKE_WITH_CUDA); elsewhere make_nccl_communicator
// explains that this build has no GPU support.
#pragma once

#include <memory>

#include "pipeline/dist/communicator.h"

namespace shrike::dist {

// The CUDA device this process uses: its node-local rank among the visible devices
// (CUDA_VISIBLE_DEVICES as Slurm or the user set it). UserError when the node runs
// more ranks than it has GPUs, naming both counts and the fix.
int select_local_gpu(const MpiContext& context);

// Collectives on device memory. `control` (the MPI communicator) must outlive it.
std::unique_ptr<Communicator> make_nccl_communicator(const MpiContext& context, Communicator& control, int device,
                                                     double timeout_seconds = 60.0);

}  // namespace shrike::dist
