// tests/unit/fake_nvml.cpp
//
// A stand-in libnvidia-ml.so.1 for test_system_stats: exports the NVML functions
// pipeline/train/gpu_stats.cpp calls, with NVML's C signatures, over two fake devices
// whose readings the test sets through the fake_nvml_* functions (it dlopens this same
// file, so both see one copy of the state). Built as <build>/tests/fake_nvml/
// libnvidia-ml.so.1, so that a test run with LD_LIBRARY_PATH pointing there loads it in
// place of a driver's. Return codes are NVML's: 0 success, 3 not supported, 6 not found,
// 9 driver not loaded.
#include <cstring>

namespace {

struct FakeDevice {
  const char* uuid;
  const char* name;
  unsigned int util, mem_util;
  unsigned long long used, total;
  unsigned int power_mw, temp_c;
};

FakeDevice devices[2] = {
    {"GPU-11111111-2222-3333-4444-555555555555", "Fake GPU A", 10, 5, 1ull << 30, 16ull << 30, 100000, 40},
    {"GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "Fake GPU B", 75, 40, 3ull << 30, 80ull << 30, 312500, 61},
};
int init_result = 0;
int power_result = 0;
int every_query_result = 0;  // when non-zero, every reading returns it
int init_calls = 0, shutdown_calls = 0, utilization_calls = 0;

FakeDevice* as_device(void* handle) {
  for (FakeDevice& device : devices) {
    if (handle == &device) return &device;
  }
  return nullptr;
}

}  // namespace

extern "C" {

struct nvmlUtilization_t {
  unsigned int gpu, memory;
};
struct nvmlMemory_t {
  unsigned long long total, free, used;
};

// ---- the NVML functions ---------------------------------------------------------------
int nvmlInit_v2() {
  ++init_calls;
  return init_result;
}
int nvmlShutdown() {
  ++shutdown_calls;
  return 0;
}
const char* nvmlErrorString(int code) {
  switch (code) {
    case 0: return "Success";
    case 3: return "Not Supported";
    case 6: return "Not Found";
    case 9: return "Driver Not Loaded";
    default: return "Unknown Error";
  }
}
int nvmlDeviceGetHandleByUUID(const char* uuid, void** device) {
  for (FakeDevice& candidate : devices) {
    if (std::strcmp(uuid, candidate.uuid) == 0) {
      *device = &candidate;
      return 0;
    }
  }
  return 6;
}
int nvmlDeviceGetName(void* handle, char* name, unsigned int length) {
  const FakeDevice* device = as_device(handle);
  if (device == nullptr || length == 0) return 2;
  std::strncpy(name, device->name, length - 1);
  name[length - 1] = '\0';
  return 0;
}
int nvmlDeviceGetUtilizationRates(void* handle, nvmlUtilization_t* utilization) {
  ++utilization_calls;
  const FakeDevice* device = as_device(handle);
  if (device == nullptr) return 2;
  if (every_query_result != 0) return every_query_result;
  *utilization = {device->util, device->mem_util};
  return 0;
}
int nvmlDeviceGetMemoryInfo(void* handle, nvmlMemory_t* memory) {
  const FakeDevice* device = as_device(handle);
  if (device == nullptr) return 2;
  if (every_query_result != 0) return every_query_result;
  *memory = {device->total, device->total - device->used, device->used};
  return 0;
}
int nvmlDeviceGetPowerUsage(void* handle, unsigned int* milliwatts) {
  const FakeDevice* device = as_device(handle);
  if (device == nullptr) return 2;
  if (every_query_result != 0) return every_query_result;
  if (power_result != 0) return power_result;
  *milliwatts = device->power_mw;
  return 0;
}
int nvmlDeviceGetTemperature(void* handle, int sensor, unsigned int* celsius) {
  const FakeDevice* device = as_device(handle);
  if (device == nullptr || sensor != 0) return 2;
  if (every_query_result != 0) return every_query_result;
  *celsius = device->temp_c;
  return 0;
}

// ---- the test's controls ----------------------------------------------------------------
void fake_nvml_set_util(int index, unsigned int util) { devices[index].util = util; }
void fake_nvml_set_results(int init, int power, int every_query) {
  init_result = init;
  power_result = power;
  every_query_result = every_query;
}
int fake_nvml_init_calls() { return init_calls; }
int fake_nvml_shutdown_calls() { return shutdown_calls; }
int fake_nvml_utilization_calls() { return utilization_calls; }

}  // extern "C"
