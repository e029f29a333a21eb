// kernels/cudnn_check.h
//
// CUDNN_CHECK(call) and CUBLAS_CHECK(call): as CUDA_CHECK (cuda_check.h) for cuDNN and
// cuBLAS status codes. Out-of-memory statuses set CudaError::out_of_memory.
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include <string>

#include "kernels/cuda_check.h"

namespace shrike::kernels {

[[noreturn]] inline void throw_cudnn_error(cudnnStatus_t status, const char* call, const char* file, int line) {
  std::string message = cuda_error_where(call, file, line);
  message.replace(message.find("%s"), 2, cudnnGetErrorString(status));
  throw CudaError(message, status == CUDNN_STATUS_ALLOC_FAILED);
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  std::string message = cuda_error_where(call, file, line);
  message.replace(message.find("%s"), 2, std::string(cublasGetStatusName(status)) + " (" +
                                             cublasGetStatusString(status) + ")");
  throw CudaError(message, status == CUBLAS_STATUS_ALLOC_FAILED);
}

}  // namespace shrike::kernels

#define CUDNN_CHECK(call)                                                                  \
  do {                                                                                     \
    cudnnStatus_t shrike_cudnn_status_ = (call);                                           \
    if (shrike_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                      \
      ::shrike::kernels::throw_cudnn_error(shrike_cudnn_status_, #call, __FILE__, __LINE__); \
  } while (0)

#define CUBLAS_CHECK(call)                                                                   \
  do {                                                                                       \
    cublasStatus_t shrike_cublas_status_ = (call);                                           \
    if (shrike_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                      \
      ::shrike::kernels::throw_cublas_error(shrike_cublas_status_, #call, __FILE__, __LINE__); \
  } while (0)
