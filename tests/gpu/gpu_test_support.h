// tests/gpu/gpu_test_support.h
//
// What every GPU test shares: skip (exit 77, which ctest reports as skipped through
// SKIP_RETURN_CODE) with the reason when no CUDA device is usable; fresh random inputs
// from a seed printed in the log (so a failure can be replayed with SHRIKE_TEST_SEED);
// device round trips; and a comparison that prints the worst error of each case against
// its stated tolerance and counts failures. Header-only; CUDA builds only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/cuda_check.h"
#include "kernels/device.h"
#include "kernels/device_array.h"

namespace shrike::gpu_test {

// Returns false (after printing "SKIPPED: reason") when there is no usable device.
inline bool have_device() {
  if (kernels::cuda_device_count() == 0) {
    std::printf("SKIPPED: no CUDA device: %s\n", kernels::cuda_unavailable_reason().c_str());
    return false;
  }
  std::printf("device: %s\n", kernels::cuda_device_description(0).c_str());
  return true;
}

inline std::mt19937_64 seeded_rng() {
  const char* fixed = std::getenv("SHRIKE_TEST_SEED");
  const std::uint64_t seed = fixed != nullptr ? std::strtoull(fixed, nullptr, 10) : std::random_device{}();
  std::printf("seed: %llu (replay with SHRIKE_TEST_SEED)\n", static_cast<unsigned long long>(seed));
  return std::mt19937_64(seed);
}

inline std::vector<float> random_floats(std::mt19937_64& rng, std::size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(n);
  for (auto& v : values) v = dist(rng);
  return values;
}

// Rounds through bf16, so a CPU reference sees exactly the inputs a bf16 kernel sees.
inline std::vector<float> round_to_bf16(std::vector<float> values) {
  for (auto& v : values) v = __bfloat162float(__float2bfloat16(v));
  return values;
}

template <typename T>
kernels::DeviceArray<T> to_device(const std::vector<T>& host) {
  kernels::DeviceArray<T> array(host.size());
  if (!host.empty()) CUDA_CHECK(cudaMemcpy(array.data(), host.data(), array.bytes(), cudaMemcpyHostToDevice));
  return array;
}

template <typename T>
std::vector<T> to_host(const kernels::DeviceArray<T>& array) {
  std::vector<T> host(array.size());
  CUDA_CHECK(cudaDeviceSynchronize());
  if (!host.empty()) CUDA_CHECK(cudaMemcpy(host.data(), array.data(), array.bytes(), cudaMemcpyDeviceToHost));
  return host;
}

// float <-> bf16 on the host, for bf16 cases.
inline std::vector<__nv_bfloat16> to_bf16(const std::vector<float>& values) {
  std::vector<__nv_bfloat16> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = __float2bfloat16(values[i]);
  return out;
}
inline std::vector<float> from_bf16(const std::vector<__nv_bfloat16>& values) {
  std::vector<float> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = __bfloat162float(values[i]);
  return out;
}

// The dtype under test, by name ("fp32", "bf16").
template <typename T>
const char* type_name() {
  return std::is_same_v<T, float> ? "fp32" : "bf16";
}
// Inputs a T kernel sees exactly: rounded through bf16 for bf16 cases.
template <typename T>
std::vector<float> representable(std::vector<float> values) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return round_to_bf16(std::move(values));
  return values;
}
// float values to a device array of T (rounded for bf16), ready when it returns.
template <typename T>
kernels::DeviceArray<T> upload(const std::vector<float>& values) {
  kernels::DeviceArray<T> array;
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    array = to_device(to_bf16(values));
  } else {
    array = to_device(values);
  }
  CUDA_CHECK(cudaDeviceSynchronize());  // kernels may run on another stream
  return array;
}
// A device array of T back as floats (waits for the device).
template <typename T>
std::vector<float> download(const kernels::DeviceArray<T>& array) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return from_bf16(to_host(array));
  } else {
    return to_host(array);
  }
}

inline std::vector<double> to_double(const std::vector<float>& values) { return {values.begin(), values.end()}; }
inline std::vector<float> to_float(const std::vector<double>& values) {
  std::vector<float> out(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) out[i] = static_cast<float>(values[i]);
  return out;
}
inline double max_abs(const std::vector<float>& values) {
  double largest = 0;
  for (float v : values) largest = std::max(largest, static_cast<double>(std::abs(v)));
  return largest;
}

// Counts the cases that fail; prints one line per case.
class Report {
 public:
  // Worst |got - expected| / (atol + rtol * |expected|) must be <= 1.
  void compare(const std::string& name, const std::vector<float>& got, const std::vector<float>& expected,
               double atol, double rtol) {
    double worst = 0, worst_abs = 0;
    std::size_t worst_index = 0;
    bool size_ok = got.size() == expected.size();
    for (std::size_t i = 0; size_ok && i < got.size(); ++i) {
      const double diff = std::abs(static_cast<double>(got[i]) - expected[i]);
      const double ratio = std::isfinite(got[i]) ? diff / (atol + rtol * std::abs(expected[i])) : 1e30;
      if (ratio > worst) {
        worst = ratio;
        worst_abs = diff;
        worst_index = i;
      }
    }
    const bool ok = size_ok && worst <= 1.0;
    std::printf("%-48s %s  worst |diff| %.3g at %zu (%.2f of tolerance atol %.1g rtol %.1g)%s\n", name.c_str(),
                ok ? "ok  " : "FAIL", worst_abs, worst_index, worst, atol, rtol,
                size_ok ? "" : "  SIZE MISMATCH");
    failures_ += ok ? 0 : 1;
  }
  void check(const std::string& name, bool ok, const std::string& detail = "") {
    std::printf("%-48s %s  %s\n", name.c_str(), ok ? "ok  " : "FAIL", detail.c_str());
    failures_ += ok ? 0 : 1;
  }
  int finish() const {
    std::printf(failures_ ? "FAILED (%d cases)\n" : "PASSED\n", failures_);
    return failures_ ? 1 : 0;
  }

 private:
  int failures_ = 0;
};

// got vs expected within tol * max |expected| (errors relative to the tensor's scale).
inline void compare_scaled(Report& report, const std::string& name, const std::vector<float>& got,
                           const std::vector<float>& expected, double tol) {
  report.compare(name, got, expected, std::max(tol * max_abs(expected), 1e-30), 0.0);
}

// A non-blocking stream for the kernels under test (the executor never uses stream 0).
struct Stream {
  cudaStream_t s = nullptr;
  Stream() { CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(s); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
};

// A test program's main: skips (77) without a device, else runs body(report, rng, stream)
// and returns the report's verdict; an exception fails the program with its message.
template <typename Body>
int run_gpu_test(Body body) {
  if (!have_device()) return 77;
  try {
    auto rng = seeded_rng();
    Report report;
    Stream stream;
    body(report, rng, stream.s);
    return report.finish();
  } catch (const std::exception& e) {
    std::printf("FAILED: %s\n", e.what());
    return 1;
  }
}

}  // namespace shrike::gpu_test
