// pipeline/dist/mpi_context.h
//
// The process's place in a job (DESIGN.md § Processes): MPI is the control plane.
// MpiContext initialises MPI (MPI_Init_thread, FUNNELED: only the main thread makes MPI
// calls), and knows the rank, the world size, this node's name, and the node-local
// rank from MPI_Comm_split_type(MPI_COMM_TYPE_SHARED), which is right under both srun
// and mpirun (their environment variables differ; hpc-notes). It also decides how many
// threads this rank may use: the cores of its affinity mask, shared among the ranks of
// the node when the launcher bound them all to the same cores, so that two ranks never
// run two threads each on two cores. MPI_CHECK turns a failed call into an error that
// names the call, the rank and the host.
#pragma once

#include <mpi.h>

#include <string>

namespace shrike::dist {

class MpiContext {
 public:
  // Initialises MPI (once per process). Safe to construct when not launched by
  // mpirun/srun: then the world has one rank.
  MpiContext(int* argc, char*** argv);
  ~MpiContext();
  MpiContext(const MpiContext&) = delete;
  MpiContext& operator=(const MpiContext&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }
  int local_rank() const { return local_rank_; }
  int local_world() const { return local_world_; }
  const std::string& host() const { return host_; }
  bool is_root() const { return rank_ == 0; }
  // Threads this rank should use for its compute (OpenMP, loaders).
  int threads() const { return threads_; }

  // Ends every rank of the job at once (MPI_Abort), after printing `why` with this
  // rank's name: used when a rank fails, so no peer waits on a collective.
  [[noreturn]] void abort(const std::string& why, int code = 1) const;

  // "rank 1/2 on node03"
  std::string where() const;

 private:
  int rank_ = 0, world_ = 1, local_rank_ = 0, local_world_ = 1, threads_ = 1;
  std::string host_;
  bool finalize_ = false;
};

[[noreturn]] void throw_mpi_error(int code, const char* call, const char* file, int line);

}  // namespace shrike::dist

#define MPI_CHECK(call)                                                           \
  do {                                                                            \
    int shrike_mpi_status_ = (call);                                              \
    if (shrike_mpi_status_ != MPI_SUCCESS)                                        \
      ::shrike::dist::throw_mpi_error(shrike_mpi_status_, #call, __FILE__, __LINE__); \
  } while (0)
