// pipeline/dist/mpi_context.cpp: MPI start-up, node-local rank, threads per rank.
#include "pipeline/dist/mpi_context.h"

#include <fmt/core.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "pipeline/core/error.h"

namespace shrike::dist {

void throw_mpi_error(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  int rank = -1;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  char host[256] = "?";
  ::gethostname(host, sizeof host);
  fail_internal("{} failed on rank {} ({}): {} at {}:{}", call, rank, host, std::string(text, static_cast<std::size_t>(length)),
                file, line);
}

namespace {

// Whether every local rank has the same affinity mask (the launcher did not bind
// ranks to disjoint cores), in which case the cores must be shared.
bool same_mask_on_all_local_ranks(MPI_Comm local, const cpu_set_t& mask) {
  int size = 0;
  MPI_CHECK(MPI_Comm_size(local, &size));
  std::vector<unsigned char> all(sizeof(cpu_set_t) * static_cast<std::size_t>(size));
  MPI_CHECK(MPI_Allgather(&mask, sizeof(cpu_set_t), MPI_BYTE, all.data(), sizeof(cpu_set_t), MPI_BYTE, local));
  for (int r = 1; r < size; ++r) {
    if (!std::equal(all.begin(), all.begin() + sizeof(cpu_set_t), all.begin() + r * static_cast<long>(sizeof(cpu_set_t)))) {
      return false;
    }
  }
  return true;
}

}  // namespace

MpiContext::MpiContext(int* argc, char*** argv) {
  int initialized = 0;
  MPI_CHECK(MPI_Initialized(&initialized));
  if (!initialized) {
    int provided = 0;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    finalize_ = true;
  }
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &world_));
  MPI_Comm local = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local));
  MPI_CHECK(MPI_Comm_rank(local, &local_rank_));
  MPI_CHECK(MPI_Comm_size(local, &local_world_));
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_CHECK(MPI_Get_processor_name(name, &length));
  host_.assign(name, static_cast<std::size_t>(length));
  cpu_set_t mask;
  CPU_ZERO(&mask);
  sched_getaffinity(0, sizeof mask, &mask);
  const int cores = std::max(1, CPU_COUNT(&mask));
  const bool shared = same_mask_on_all_local_ranks(local, mask);
  threads_ = shared ? std::max(1, cores / local_world_) : cores;
  MPI_CHECK(MPI_Comm_free(&local));
}

MpiContext::~MpiContext() {
  if (finalize_) MPI_Finalize();
}

std::string MpiContext::where() const { return fmt::format("rank {}/{} on {}", rank_, world_, host_); }

void MpiContext::abort(const std::string& why, int code) const {
  std::fprintf(stderr, "error: %s: %s; ending the job\n", where().c_str(), why.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace shrike::dist
