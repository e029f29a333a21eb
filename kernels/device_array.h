// kernels/device_array.h
//
// DeviceArray<T>: an owning, checked cudaMalloc'd array of T (move-only), with
// stream-ordered copies to and from host memory. Allocation failures throw CudaError
// naming the element count and bytes asked for, so an out-of-memory report says how
// much was wanted. Only built with the CUDA backend.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <utility>

#include "kernels/cuda_check.h"

namespace shrike::kernels {

template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t size) { resize(size); }
  ~DeviceArray() { release(); }
  DeviceArray(DeviceArray&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  DeviceArray& operator=(DeviceArray&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  // Reallocates (contents lost) unless the size is unchanged.
  void resize(std::size_t size) {
    if (size == size_) return;
    release();
    if (size == 0) return;
    cudaError_t status = cudaMalloc(reinterpret_cast<void**>(&data_), size * sizeof(T));
    if (status != cudaSuccess) {
      data_ = nullptr;
      cudaGetLastError();
      throw_cuda_error(status,
                       ("cudaMalloc of " + std::to_string(size) + " elements (" +
                        std::to_string(size * sizeof(T) >> 20) + " MiB)")
                           .c_str(),
                       __FILE__, __LINE__);
    }
    size_ = size;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }
  bool empty() const { return size_ == 0; }

  void upload(const T* host, std::size_t count, cudaStream_t stream, std::size_t offset = 0) {
    check_range(offset, count);
    CUDA_CHECK(cudaMemcpyAsync(data_ + offset, host, count * sizeof(T), cudaMemcpyHostToDevice, stream));
  }
  void download(T* host, std::size_t count, cudaStream_t stream, std::size_t offset = 0) const {
    check_range(offset, count);
    CUDA_CHECK(cudaMemcpyAsync(host, data_ + offset, count * sizeof(T), cudaMemcpyDeviceToHost, stream));
  }
  void zero(cudaStream_t stream) {
    if (size_ > 0) CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes(), stream));
  }

 private:
  void check_range(std::size_t offset, std::size_t count) const {
    if (offset + count > size_) {
      throw CudaError("DeviceArray copy of " + std::to_string(count) + " elements at " + std::to_string(offset) +
                          " outside its " + std::to_string(size_),
                      false);
    }
  }
  void release() {
    if (data_ != nullptr) cudaFree(data_);  // never throws; an error shows at the next call
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace shrike::kernels
