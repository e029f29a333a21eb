// kernels/cuda_check.h
//
// CUDA_CHECK(call), CUDNN_CHECK(call), CUBLAS_CHECK(call): every CUDA runtime, cuDNN
// and cuBLAS call is checked; a failure throws CudaError with the call text, the
// error name and string, the device and the source location, e.g.
// "cudaMalloc(&p, bytes) failed: cudaErrorMemoryAllocation (out of memory) on device 0
//  at kernels/resize.cu:41". Callers that know more (the values, the batch size) catch
// and rethrow with it; out_of_memory() lets them tell that case apart.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace shrike::kernels {

class CudaError : public std::runtime_error {
 public:
  CudaError(const std::string& message, bool out_of_memory)
      : std::runtime_error(message), out_of_memory_(out_of_memory) {}
  bool out_of_memory() const { return out_of_memory_; }

 private:
  bool out_of_memory_;
};

inline std::string cuda_error_where(const char* call, const char* file, int line) {
  int device = -1;
  cudaGetDevice(&device);
  return std::string(call) + " failed: %s on device " + std::to_string(device) + " at " + file + ":" +
         std::to_string(line);
}

[[noreturn]] inline void throw_cuda_error(cudaError_t error, const char* call, const char* file, int line) {
  std::string message = cuda_error_where(call, file, line);
  message.replace(message.find("%s"), 2,
                  std::string(cudaGetErrorName(error)) + " (" + cudaGetErrorString(error) + ")");
  throw CudaError(message, error == cudaErrorMemoryAllocation);
}

}  // namespace shrike::kernels

#define CUDA_CHECK(call)                                                                   \
  do {                                                                                     \
    cudaError_t shrike_cuda_status_ = (call);                                              \
    if (shrike_cuda_status_ != cudaSuccess)                                                \
      ::shrike::kernels::throw_cuda_error(shrike_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, at the launch.
#define CUDA_CHECK_LAUNCH(name) CUDA_CHECK(cudaGetLastError())
