// pipeline/cli/cmd_debug_bench_none.cpp: `shrike debug bench-step` in builds without CUDA.
#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"

namespace shrike::cli {

int run_debug_bench_step(const Args&) {
  fail_user("shrike debug bench-step times the training step on a GPU, and this shrike was built without the CUDA "
            "backend (configure with -DSHRIKE_CUDA=ON where the CUDA toolkit, cuDNN and NCCL are installed)");
}

}  // namespace shrike::cli
