// pipeline/core/available_cores.cpp: cores in this process's affinity mask, which is
// what Slurm and mpirun restrict (std::thread::hardware_concurrency ignores it).
#include <sched.h>

#include <thread>

#include "pipeline/core/ordered_parallel.h"

namespace shrike {

unsigned available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return static_cast<unsigned>(count);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? hw : 1;
}

}  // namespace shrike
