// tests/mpi/dead_peer.cpp: a rank that stops answering must not leave its peer waiting:
// rank 1 hangs (sleeps) instead of joining the collective, so only rank 0's deadline
// (5 s here) can end the job; it must, with a message naming rank 0 and the operation.
// (A rank that crashes outright is also caught by mpirun/srun --kill-on-bad-exit.)
// Run by tests/mpi/dead_peer.sh, which checks the job ends quickly and says why.
#include <chrono>
#include <thread>
#include <vector>

#include "pipeline/dist/communicator.h"

using namespace shrike::dist;

int main(int argc, char** argv) {
  MpiContext context(&argc, &argv);
  auto comm = make_mpi_communicator(context, 5.0);
  comm->barrier();
  if (context.rank() == 1) std::this_thread::sleep_for(std::chrono::seconds(600));  // stuck
  std::vector<float> gradients(1000, 1.0f);
  comm->all_reduce(gradients, ReduceOp::kSum);
  return 0;  // not reached: the all-reduce cannot complete
}
