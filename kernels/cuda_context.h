// kernels/cuda_context.h
//
// What every CUDA op of one process needs on its device, made once: the device, one
// non-blocking stream that every kernel, cuDNN and cuBLAS call of the step is queued on
// (so the step is ordered without host synchronisation), the cuDNN and cuBLAS handles
// bound to that stream, and one workspace shared by all convolutions and GEMMs (they
// run one at a time on the stream, so one buffer of the largest size they asked for is
// enough). Only built with the CUDA backend.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>

namespace shrike::kernels {

class CudaContext {
 public:
  // Makes `device` current for this thread and creates the stream and handles.
  explicit CudaContext(int device);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cudnnHandle_t cudnn() const { return cudnn_; }
  cublasHandle_t cublas() const { return cublas_; }

  // At least `bytes` of device scratch, valid until the next call that grows it. Growing
  // waits for the stream first (work in flight may still read the old buffer).
  void* workspace(std::size_t bytes);
  std::size_t workspace_bytes() const { return workspace_bytes_; }

  // Waits for everything queued on the stream; a failed kernel surfaces here.
  void synchronize() const;

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
};

}  // namespace shrike::kernels
