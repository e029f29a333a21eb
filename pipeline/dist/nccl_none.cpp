// pipeline/dist/nccl_none.cpp: the NCCL backend's entry points in a build without CUDA,
// so callers need no #ifdef and users get a clear message instead of a link error.
#include "pipeline/core/error.h"
#include "pipeline/dist/nccl_communicator.h"

namespace shrike::dist {

int select_local_gpu(const MpiContext&) {
  fail_user("this shrike was built without the CUDA backend: train with device=cpu, or rebuild with "
            "-DSHRIKE_CUDA=ON on a machine with the CUDA toolkit, cuDNN and NCCL");
}

std::unique_ptr<Communicator> make_nccl_communicator(const MpiContext& context, Communicator&, int, double) {
  select_local_gpu(context);
  return nullptr;
}

}  // namespace shrike::dist
