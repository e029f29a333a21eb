// kernels/device_none.cpp: the CPU-only build has no accelerators.
#include "kernels/device.h"

namespace shrike::kernels {

int cuda_device_count() { return 0; }
std::string cuda_unavailable_reason() { return "this shrike was built without CUDA (SHRIKE_CUDA=OFF or no nvcc)"; }
std::string cuda_device_description(int) { return "none"; }

}  // namespace shrike::kernels
