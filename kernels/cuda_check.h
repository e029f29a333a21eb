// kernels/cuda_check.h
//
// CUDA_CHECK(call): every CUDA runtime call is checked; a failure throws with the call
// text, the error name and string, the device and the source location, e.g.
// "cudaMalloc(&p, bytes) failed: cudaErrorMemoryAllocation (out of memory) on device 0
//  at kernels/resize.cu:41".
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace shrike::kernels {

[[noreturn]] inline void throw_cuda_error(cudaError_t error, const char* call, const char* file,
                                          int line) {
  int device = -1;
  cudaGetDevice(&device);
  throw std::runtime_error(std::string(call) + " failed: " + cudaGetErrorName(error) + " (" +
                           cudaGetErrorString(error) + ") on device " + std::to_string(device) +
                           " at " + file + ":" + std::to_string(line));
}

}  // namespace shrike::kernels

#define CUDA_CHECK(call)                                                          \
  do {                                                                            \
    cudaError_t shrike_cuda_status_ = (call);                                     \
    if (shrike_cuda_status_ != cudaSuccess)                                       \
      ::shrike::kernels::throw_cuda_error(shrike_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)
