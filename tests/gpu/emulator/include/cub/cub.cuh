// tests/gpu/emulator/include/cub/cub.cuh: stand-in for the two CUB device algorithms kernels/nms.cu uses, on host memory:
// an exclusive prefix sum and a stable LSD-radix-equivalent sort on bits [begin, end).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>
namespace cub {
struct DeviceScan {
  template <class In, class Out>
  static cudaError_t ExclusiveSum(void* temp, std::size_t& bytes, In in, Out out, int n, cudaStream_t = nullptr) {
    if (temp == nullptr) return bytes = 64, cudaSuccess;
    auto sum = decltype(+*out){};
    for (int i = 0; i < n; ++i) {
      const auto v = in[i];
      out[i] = sum;
      sum += v;
    }
    return cudaSuccess;
  }
};
struct DeviceRadixSort {
  template <class K, class V>
  static cudaError_t SortPairs(void* temp, std::size_t& bytes, const K* keys_in, K* keys_out, const V* values_in,
                               V* values_out, int n, int begin_bit = 0, int end_bit = sizeof(K) * 8,
                               cudaStream_t = nullptr) {
    if (temp == nullptr) return bytes = 64, cudaSuccess;
    const K mask = (end_bit - begin_bit >= int(sizeof(K) * 8) ? ~K{0} : ((K{1} << (end_bit - begin_bit)) - 1))
                   << begin_bit;
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return (keys_in[a] & mask) < (keys_in[b] & mask); });
    std::vector<K> k(n);
    std::vector<V> v(n);
    for (int i = 0; i < n; ++i) k[i] = keys_in[order[i]], v[i] = values_in[order[i]];
    std::copy(k.begin(), k.end(), keys_out);
    std::copy(v.begin(), v.end(), values_out);
    return cudaSuccess;
  }
};
}  // namespace cub
