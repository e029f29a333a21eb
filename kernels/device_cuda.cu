// kernels/device_cuda.cu: device count and names from the CUDA runtime; no driver or
// no GPU reads as zero devices with the runtime's reason, never as an error.
#include <cuda_runtime.h>

#include <string>

#include "kernels/device.h"

namespace shrike::kernels {

namespace {
cudaError_t query_count(int* count) {
  *count = 0;
  cudaError_t status = cudaGetDeviceCount(count);
  if (status != cudaSuccess) {
    *count = 0;
    cudaGetLastError();  // clear the sticky error
  }
  return status;
}
}  // namespace

int cuda_device_count() {
  int count = 0;
  query_count(&count);
  return count;
}

std::string cuda_unavailable_reason() {
  int count = 0;
  cudaError_t status = query_count(&count);
  if (status != cudaSuccess) {
    return std::string("no usable CUDA device: ") + cudaGetErrorName(status) + " (" +
           cudaGetErrorString(status) + ")";
  }
  return count == 0 ? "no CUDA device visible" : "";
}

std::string cuda_device_description(int index) {
  cudaDeviceProp properties{};
  if (cudaGetDeviceProperties(&properties, index) != cudaSuccess) {
    cudaGetLastError();
    return "unknown device " + std::to_string(index);
  }
  return std::string(properties.name) + " (sm_" + std::to_string(properties.major) +
         std::to_string(properties.minor) + ", " +
         std::to_string(properties.totalGlobalMem >> 30) + " GiB)";
}

}  // namespace shrike::kernels
