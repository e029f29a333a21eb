// kernels/cuda_context.cpp: stream, handles and the shared workspace of a CudaContext.
#include "kernels/cuda_context.h"

#include <cstdint>

#include "kernels/cudnn_check.h"

namespace shrike::kernels {

CudaContext::CudaContext(int device) : device_(device) {
  CUDA_CHECK(cudaSetDevice(device));
  CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  // Stream-ordered scratch (cudaMallocAsync, e.g. BatchNorm's partial sums) stays in the
  // device's pool between steps instead of going back to the driver at every sync, so
  // after the first step those allocations cost nothing.
  cudaMemPool_t pool = nullptr;
  CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
  std::uint64_t keep_everything = UINT64_MAX;
  CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_everything));
  CUDNN_CHECK(cudnnCreate(&cudnn_));
  CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  CUBLAS_CHECK(cublasCreate(&cublas_));
  CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
}

CudaContext::~CudaContext() {
  // Destructors must not throw: errors here are reported by the next CUDA call.
  if (stream_ != nullptr) cudaStreamSynchronize(stream_);
  if (workspace_ != nullptr) cudaFree(workspace_);
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (cudnn_ != nullptr) cudnnDestroy(cudnn_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

void* CudaContext::workspace(std::size_t bytes) {
  if (bytes <= workspace_bytes_) return workspace_;
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (workspace_ != nullptr) CUDA_CHECK(cudaFree(workspace_));
  workspace_ = nullptr;
  workspace_bytes_ = 0;
  CUDA_CHECK(cudaMalloc(&workspace_, bytes));
  workspace_bytes_ = bytes;
  return workspace_;
}

void CudaContext::synchronize() const { CUDA_CHECK(cudaStreamSynchronize(stream_)); }

}  // namespace shrike::kernels
