// pipeline/train/device_selection.cpp: the `device` key resolved to a CUDA device or the CPU.
#include <string>

#include "kernels/device.h"
#include "pipeline/core/error.h"
#include "pipeline/train/device_training.h"

namespace shrike::train {

namespace {

// The N of "cuda:N" (-1 for plain "cuda"); UserError for anything that is not a device.
int requested_index(const std::string& device) {
  if (device == "cuda") return -1;
  if (device.rfind("cuda:", 0) != 0) fail_user("device={}: expected auto, cpu, cuda or cuda:N", device);
  const std::string index = device.substr(5);
  if (index.empty() || index.size() > 4 || index.find_first_not_of("0123456789") != std::string::npos) {
    fail_user("device={}: expected cuda:N with N a device number, e.g. device=cuda:0", device);
  }
  return std::stoi(index);
}

}  // namespace

int resolve_device(const std::string& device, int local_rank) {
  if (device == "cpu") return -1;
  const int count = kernels::cuda_device_count();
  if (device == "auto") return count > 0 ? local_rank % count : -1;
  const int index = requested_index(device);  // the spelling first, then the machine
  if (count == 0) {
    fail_user("device={}: {}. Train on the CPU with device=cpu (or device=auto)", device,
              kernels::cuda_unavailable_reason());
  }
  if (index < 0) {
    if (local_rank >= count) {
      fail_user("device=cuda: this node runs {} ranks but has {} GPU(s); start at most {} ranks per node",
                local_rank + 1, count, count);
    }
    return local_rank;
  }
  if (index >= count) fail_user("device={}: this process sees {} CUDA device(s) (0..{})", device, count, count - 1);
  return index;
}

}  // namespace shrike::train
