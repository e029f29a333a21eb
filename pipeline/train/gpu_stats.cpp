// pipeline/train/gpu_stats.cpp: NVML through dlopen, and the sampling thread (see
// gpu_stats.h). The NVML declarations below are written here because the toolkit this
// project builds with ships no nvml.h (nvidia-ml-py and the driver carry it, not the
// Debian CUDA packages); they follow the NVML API reference, and only functions that
// exist unchanged since NVML 5 (driver 319) are used, so any driver's library has them.
#include "pipeline/train/gpu_stats.h"

#include <dlfcn.h>
#include <fmt/core.h>

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>

namespace shrike::train {

namespace nvml {
// nvmlReturn_t (a C enum, passed as int).
using Return = int;
constexpr Return kSuccess = 0;             // NVML_SUCCESS
constexpr Return kErrorNotSupported = 3;   // NVML_ERROR_NOT_SUPPORTED
// nvmlDevice_t: an opaque handle.
struct DeviceSt;
using Device = DeviceSt*;
// nvmlUtilization_t: percent of the last sample period (1/6 s to 1 s).
struct Utilization {
  unsigned int gpu;     // a kernel was executing
  unsigned int memory;  // device memory was being read or written
};
// nvmlMemory_t (the v1 struct of nvmlDeviceGetMemoryInfo), bytes.
struct Memory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
constexpr int kTemperatureGpu = 0;  // nvmlTemperatureSensors_t NVML_TEMPERATURE_GPU

// The functions called, with the names the library exports.
struct Api {
  Return (*init)() = nullptr;                                              // nvmlInit_v2
  Return (*shutdown)() = nullptr;                                          // nvmlShutdown
  const char* (*error_string)(Return) = nullptr;                           // nvmlErrorString
  Return (*handle_by_uuid)(const char*, Device*) = nullptr;                // nvmlDeviceGetHandleByUUID
  Return (*name)(Device, char*, unsigned int) = nullptr;                   // nvmlDeviceGetName
  Return (*utilization)(Device, Utilization*) = nullptr;                   // nvmlDeviceGetUtilizationRates
  Return (*memory)(Device, Memory*) = nullptr;                             // nvmlDeviceGetMemoryInfo
  Return (*power_mw)(Device, unsigned int*) = nullptr;                     // nvmlDeviceGetPowerUsage (mW)
  Return (*temperature)(Device, int, unsigned int*) = nullptr;            // nvmlDeviceGetTemperature (C)
};
constexpr unsigned int kDeviceNameBufferSize = 96;  // NVML_DEVICE_NAME_V2_BUFFER_SIZE

template <typename Function>
bool bind(void* library, const char* symbol, Function& function, std::string& missing) {
  void* address = ::dlsym(library, symbol);
  if (address == nullptr) {
    if (missing.empty()) missing = symbol;
    return false;
  }
  function = reinterpret_cast<Function>(address);
  return true;
}

// Every symbol of Api, or the name of the first one the library lacks.
std::string bind_all(void* library, Api& api) {
  std::string missing;
  bind(library, "nvmlInit_v2", api.init, missing);
  bind(library, "nvmlShutdown", api.shutdown, missing);
  bind(library, "nvmlErrorString", api.error_string, missing);
  bind(library, "nvmlDeviceGetHandleByUUID", api.handle_by_uuid, missing);
  bind(library, "nvmlDeviceGetName", api.name, missing);
  bind(library, "nvmlDeviceGetUtilizationRates", api.utilization, missing);
  bind(library, "nvmlDeviceGetMemoryInfo", api.memory, missing);
  bind(library, "nvmlDeviceGetPowerUsage", api.power_mw, missing);
  bind(library, "nvmlDeviceGetTemperature", api.temperature, missing);
  return missing;
}
}  // namespace nvml

namespace {

constexpr double kBytesPerGib = 1024.0 * 1024.0 * 1024.0;

template <typename Byte>
std::string format_uuid_bytes(const Byte (&bytes)[16]) {
  std::string text = "GPU-";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text += '-';
    text += fmt::format("{:02x}", static_cast<unsigned>(static_cast<unsigned char>(bytes[i])));
  }
  return text;
}

// Mean and max of one quantity over a window.
struct RunningStat {
  double sum = 0;
  double max = -std::numeric_limits<double>::infinity();
  int count = 0;
  void add(double value) {
    sum += value;
    max = std::max(max, value);
    ++count;
  }
};

struct Sample {
  std::optional<double> util, mem_util, mem_used_gib, mem_total_gib, power_w, temp_c;
};

struct Window {
  RunningStat util, mem_used_gib, power_w, temp_c;
  int samples = 0;
};

}  // namespace

struct GpuStatsSampler::State {
  std::string library;
  std::chrono::milliseconds period;
  std::mutex mutex;  // everything below except `thread`
  void* handle = nullptr;
  nvml::Api api;
  bool nvml_initialised = false;
  nvml::Device device = nullptr;
  bool running = false;
  std::string reason, name;
  Sample latest;
  bool has_sample = false;
  Window window;
  std::condition_variable_any wake;  // the thread sleeps on it; its stop token wakes it
  std::jthread thread;

  std::string error_text(nvml::Return code) const {
    const char* text = api.error_string != nullptr ? api.error_string(code) : nullptr;
    return fmt::format("{} (NVML error {})", text != nullptr ? text : "unknown", code);
  }
  // Shuts NVML down and unloads it; `mutex` held.
  void unload() {
    if (nvml_initialised) api.shutdown();
    nvml_initialised = false;
    if (handle != nullptr) ::dlclose(handle);
    handle = nullptr;
    api = {};
    device = nullptr;
    running = false;
  }
  // Loads the library and opens the device; `mutex` held. "" or the reason it failed.
  std::string open(const std::string& uuid);
  // Reads every quantity; `mutex` held. Returns the first failure's text, "" if none
  // failed; `any` tells whether at least one quantity was read.
  std::string read(Sample& sample, bool& any) const;
  // One sample into `latest` and `window`; `mutex` held. False (and the first
  // failure's text) when no quantity could be read.
  bool take_sample(std::string& failure);
};

std::string GpuStatsSampler::State::open(const std::string& uuid) {
  name.clear();
  if (uuid.empty()) return "no GPU UUID was given";
  ::dlerror();
  handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return fmt::format("NVML not available: cannot load {} ({}); no GPU driver on this machine?", library,
                       why != nullptr ? why : "dlopen failed");
  }
  const std::string missing = nvml::bind_all(handle, api);
  if (!missing.empty()) return fmt::format("{} is not a usable NVML: it lacks the function {}", library, missing);
  if (const nvml::Return code = api.init(); code != nvml::kSuccess) {
    return fmt::format("nvmlInit_v2 failed: {}; is the NVIDIA driver loaded?", error_text(code));
  }
  nvml_initialised = true;
  if (const nvml::Return code = api.handle_by_uuid(uuid.c_str(), &device); code != nvml::kSuccess) {
    return fmt::format("no NVML device with UUID {}: nvmlDeviceGetHandleByUUID: {}", uuid, error_text(code));
  }
  char buffer[nvml::kDeviceNameBufferSize] = {};
  name = api.name(device, buffer, sizeof buffer) == nvml::kSuccess ? std::string(buffer) : std::string("unknown GPU");
  return "";
}

std::string GpuStatsSampler::State::read(Sample& sample, bool& any) const {
  std::string failure;
  const auto check = [&](nvml::Return code, const char* call) {
    if (code == nvml::kSuccess) {
      any = true;
      return true;
    }
    // A quantity this device does not report is left out quietly; other errors count.
    if (code != nvml::kErrorNotSupported && failure.empty()) failure = fmt::format("{}: {}", call, error_text(code));
    return false;
  };
  any = false;
  nvml::Utilization utilization{};
  if (check(api.utilization(device, &utilization), "nvmlDeviceGetUtilizationRates")) {
    sample.util = utilization.gpu;
    sample.mem_util = utilization.memory;
  }
  nvml::Memory memory{};
  if (check(api.memory(device, &memory), "nvmlDeviceGetMemoryInfo")) {
    sample.mem_used_gib = static_cast<double>(memory.used) / kBytesPerGib;
    sample.mem_total_gib = static_cast<double>(memory.total) / kBytesPerGib;
  }
  unsigned int milliwatts = 0;
  if (check(api.power_mw(device, &milliwatts), "nvmlDeviceGetPowerUsage")) sample.power_w = milliwatts / 1000.0;
  unsigned int celsius = 0;
  if (check(api.temperature(device, nvml::kTemperatureGpu, &celsius), "nvmlDeviceGetTemperature")) {
    sample.temp_c = celsius;
  }
  return failure;
}

bool GpuStatsSampler::State::take_sample(std::string& failure) {
  Sample sample;
  bool any = false;
  failure = read(sample, any);
  if (!any) return false;
  if (sample.util) window.util.add(*sample.util);
  if (sample.mem_used_gib) window.mem_used_gib.add(*sample.mem_used_gib);
  if (sample.power_w) window.power_w.add(*sample.power_w);
  if (sample.temp_c) window.temp_c.add(*sample.temp_c);
  ++window.samples;
  latest = sample;
  has_sample = true;
  return true;
}

std::string format_gpu_uuid(const unsigned char (&bytes)[16]) { return format_uuid_bytes(bytes); }
std::string format_gpu_uuid(const char (&bytes)[16]) { return format_uuid_bytes(bytes); }

GpuStatsSampler::GpuStatsSampler(std::string library, std::chrono::milliseconds period)
    : state_(std::make_unique<State>()) {
  state_->library = std::move(library);
  state_->period = std::max(period, std::chrono::milliseconds(1));
}

GpuStatsSampler::~GpuStatsSampler() { stop(); }

bool GpuStatsSampler::start(const std::string& uuid) {
  stop();
  {
    std::lock_guard lock(state_->mutex);
    state_->reason = state_->open(uuid);
    if (state_->reason.empty()) {
      state_->running = true;
      state_->latest = {};
      state_->has_sample = false;
      state_->window = {};
      std::string failure;
      if (!state_->take_sample(failure)) {
        state_->reason = fmt::format("GPU {} ({}) reports no stats: {}", uuid, state_->name,
                                     failure.empty() ? "every query is unsupported" : failure);
      }
    }
    if (!state_->reason.empty()) {
      state_->unload();
      return false;
    }
  }
  state_->thread = std::jthread([this](std::stop_token stop) {
    std::mutex sleep_mutex;
    std::unique_lock sleep_lock(sleep_mutex);
    while (!stop.stop_requested()) {
      // Returns early when stop is requested (the stop token notifies the variable).
      state_->wake.wait_for(sleep_lock, stop, state_->period, [] { return false; });
      if (stop.stop_requested()) break;
      sample_now();
    }
  });
  return true;
}

bool GpuStatsSampler::running() const {
  std::lock_guard lock(state_->mutex);
  return state_->running;
}

const std::string& GpuStatsSampler::unavailable_reason() const { return state_->reason; }
const std::string& GpuStatsSampler::device_name() const { return state_->name; }

bool GpuStatsSampler::sample_now() {
  std::lock_guard lock(state_->mutex);
  std::string failure;
  return state_->running && state_->take_sample(failure);
}

nlohmann::json GpuStatsSampler::snapshot_json() {
  std::lock_guard lock(state_->mutex);
  nlohmann::json out = nlohmann::json::object();
  if (!state_->running || !state_->has_sample) return out;
  const Sample& latest = state_->latest;
  const Window& window = state_->window;
  const auto put = [&](const char* key, const std::optional<double>& value) {
    if (value) out[key] = *value;
  };
  const auto put_mean = [&](const char* key, const RunningStat& stat) {
    if (stat.count > 0) out[key] = stat.sum / stat.count;
  };
  const auto put_max = [&](const char* key, const RunningStat& stat) {
    if (stat.count > 0) out[key] = stat.max;
  };
  put("gpu_util", latest.util);
  put_mean("gpu_util_mean", window.util);
  put_max("gpu_util_max", window.util);
  put("gpu_mem_util", latest.mem_util);
  put("gpu_mem_used_gib", latest.mem_used_gib);
  put_max("gpu_mem_used_max_gib", window.mem_used_gib);
  put("gpu_mem_total_gib", latest.mem_total_gib);
  put("gpu_power_w", latest.power_w);
  put_mean("gpu_power_mean_w", window.power_w);
  put_max("gpu_power_max_w", window.power_w);
  put("gpu_temp_c", latest.temp_c);
  put_max("gpu_temp_max_c", window.temp_c);
  out["gpu_samples"] = window.samples;
  state_->window = {};
  return out;
}

void GpuStatsSampler::stop() {
  if (state_->thread.joinable()) {
    state_->thread.request_stop();  // wakes wait_for through the stop token
    state_->thread.join();
  }
  std::lock_guard lock(state_->mutex);
  state_->unload();
}

}  // namespace shrike::train
