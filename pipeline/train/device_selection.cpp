// pipeline/train/device_selection.cpp: the `device` key resolved to a CUDA device or the CPU.
#include <string>

#include "kernels/device.h"
#include "pipeline/core/error.h"
#include "pipeline/train/device_training.h"

namespace shrike::train {

int resolve_device(const std::string& device, int local_rank) {
  const int count = kernels::cuda_device_count();
  if (device == "cpu") return -1;
  if (device == "auto") return count > 0 ? local_rank % count : -1;
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    if (count == 0) {
      fail_user("device={}: {}. Train on the CPU with device=cpu (or device=auto)", device,
                kernels::cuda_unavailable_reason());
    }
    if (device == "cuda") {
      if (local_rank >= count) {
        fail_user("device=cuda: this node runs {} ranks but has {} GPU(s); start at most {} ranks per node",
                  local_rank + 1, count, count);
      }
      return local_rank;
    }
    const std::string index = device.substr(5);
    if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) {
      fail_user("device={}: expected cuda:N with N a device number, e.g. device=cuda:0", device);
    }
    const int n = std::stoi(index);
    if (n >= count) fail_user("device={}: this process sees {} CUDA device(s) (0..{})", device, count, count - 1);
    return n;
  }
  fail_user("device={}: expected auto, cpu, cuda or cuda:N", device);
}

}  // namespace shrike::train
