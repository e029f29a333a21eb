// pipeline/train/gpu_stats.h
//
// GPU system stats for metrics.jsonl "system" records and `shrike monitor`: utilisation
// (kernels, memory controller), memory used/total, power and temperature of the GPU
// this process trains on, sampled on a background thread.
//
// NVML is loaded at run time (dlopen "libnvidia-ml.so.1", the driver's library), so the
// binary runs on machines without a driver: there start() returns false and
// unavailable_reason() says why in one line; snapshot_json() is then an empty object.
// Nothing here is ever fatal. The CUDA toolkit installed here ships no nvml.h, so
// gpu_stats.cpp declares the few NVML functions and structs it calls itself, with the
// signatures of the NVML API reference (docs.nvidia.com/deploy/nvml-api).
//
// NVML numbers physical GPUs and ignores CUDA_VISIBLE_DEVICES, so the device is named by
// its UUID: "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (nvidia-smi -L shows it; with CUDA,
// format_gpu_uuid(cudaDeviceProp::uuid.bytes) gives it) -> nvmlDeviceGetHandleByUUID.
//
// Keys of snapshot_json() (a flat object, so `shrike monitor` prints it on one line
// and the dashboard charts the *util* and *mem* keys):
//   gpu_util, gpu_mem_util      % of the last NVML sample period a kernel ran / device
//                               memory was read or written (latest sample)
//   gpu_util_mean, gpu_util_max over the window (below)
//   gpu_mem_used_gib, gpu_mem_used_max_gib, gpu_mem_total_gib   (GiB = 2^30 bytes)
//   gpu_power_w, gpu_power_mean_w, gpu_power_max_w
//   gpu_temp_c, gpu_temp_max_c
//   gpu_samples                 samples in the window
// A quantity the device does not report (NVML_ERROR_NOT_SUPPORTED, e.g. utilisation on
// a MIG instance) is left out. The window is the samples since the previous
// snapshot_json() (or start()): called once per epoch, mean and max are the epoch's.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace shrike::train {

// "GPU-" + the 16 bytes as 8-4-4-4-12 lowercase hex digits: NVML's form of a UUID.
std::string format_gpu_uuid(const unsigned char (&bytes)[16]);
std::string format_gpu_uuid(const char (&bytes)[16]);  // cudaUUID_t::bytes is char[16]

class GpuStatsSampler {
 public:
  static constexpr const char* kDefaultLibrary = "libnvidia-ml.so.1";
  static constexpr std::chrono::milliseconds kDefaultPeriod{2000};

  // `library`: the file dlopen is given (a bare name searches LD_LIBRARY_PATH and the
  // loader's cache, as for the driver's library; tests pass a fake's path).
  explicit GpuStatsSampler(std::string library = kDefaultLibrary,
                           std::chrono::milliseconds period = kDefaultPeriod);
  ~GpuStatsSampler();  // stop()s
  GpuStatsSampler(const GpuStatsSampler&) = delete;
  GpuStatsSampler& operator=(const GpuStatsSampler&) = delete;

  // Loads NVML, finds the device with this UUID, takes a first sample and starts the
  // sampling thread. False (and unavailable_reason()) when the library, a function in
  // it, the driver or the device is missing, or the first sample fails. Calling it
  // again after stop() starts afresh.
  bool start(const std::string& uuid);
  bool running() const;
  // One line: why start() returned false ("" when it did not).
  const std::string& unavailable_reason() const;
  // The device's name as NVML reports it ("NVIDIA H100 80GB HBM3"), "" before start().
  const std::string& device_name() const;

  // Takes one sample now (the thread calls this every period; tests call it directly).
  // False when not running or NVML failed for every quantity.
  bool sample_now();
  // The keys above; {} when not running or nothing sampled yet. Starts a new window.
  nlohmann::json snapshot_json();
  // Ends the thread within moments (it sleeps on a condition variable, not a plain
  // sleep) and shuts NVML down. Safe to call twice or without start().
  void stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shrike::train
