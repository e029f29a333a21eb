// tests/unit/test_system_stats.cpp
//
// The figures of metrics.jsonl "system" records: host stats from /proc
// (pipeline/train/system_stats.h) and GPU stats through NVML (gpu_stats.h).
// NVML is exercised three ways:
//   - absent: a library name that does not exist, a library without NVML's functions,
//     and (where this machine has no driver) the real default name: start() says why
//     in one line and the JSON stays empty;
//   - a fake libnvidia-ml.so.1 (tests/unit/fake_nvml.cpp, two devices with known
//     readings) loaded by path: values reach the JSON, the UUID picks the device,
//     unsupported readings are left out, errors are reported, the thread samples on
//     its period and stops at once;
//   - NvmlOnLibraryPath.*: ctest runs them again with LD_LIBRARY_PATH at the fake's
//     folder (SHRIKE_FAKE_NVML_ON_PATH=1), so the default name loads the fake as it
//     would load a driver's. With SHRIKE_TEST_GPU_UUID set (bench/gpu-check.sh does, on
//     a lent GPU machine), RealNvml.* reads the real device.
#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pipeline/train/gpu_stats.h"
#include "pipeline/train/system_stats.h"

namespace shrike::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

const std::string kUuidA = "GPU-11111111-2222-3333-4444-555555555555";
const std::string kUuidB = "GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

// ---- host stats ---------------------------------------------------------------------

fs::path write_temp(const std::string& name, const std::string& text) {
  const fs::path path = fs::temp_directory_path() / (name + "." + std::to_string(::getpid()));
  std::ofstream(path) << text;
  return path;
}

TEST(HostStats, ReadsKibFieldsOfProcStatus) {
  const fs::path status = write_temp("status", "Name:\tshrike\nVmHWM:\t  2097152 kB\nVmRSS:\t  1048576 kB\n");
  EXPECT_DOUBLE_EQ(status_kib_field_gib(status, "VmRSS").get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(status_kib_field_gib(status, "VmHWM").get<double>(), 2.0);
  EXPECT_TRUE(status_kib_field_gib(status, "VmSwap").is_null());
  const fs::path odd = write_temp("status-odd", "VmRSS:\t12 pages\n");
  EXPECT_TRUE(status_kib_field_gib(odd, "VmRSS").is_null());
  EXPECT_TRUE(status_kib_field_gib("/nonexistent/status", "VmRSS").is_null());
  fs::remove(status);
  fs::remove(odd);
}

TEST(HostStats, ReadsLoadAverage) {
  const fs::path loadavg = write_temp("loadavg", "1.25 0.50 0.10 2/345 6789\n");
  EXPECT_DOUBLE_EQ(load_average_1m(loadavg).get<double>(), 1.25);
  EXPECT_TRUE(load_average_1m("/nonexistent/loadavg").is_null());
  fs::remove(loadavg);
}

TEST(HostStats, ThisProcessHasResidentMemoryAndNoGpuKeys) {
  const json stats = host_system_stats();
  ASSERT_TRUE(stats.contains("rss_gib")) << stats.dump();
  EXPECT_GT(stats["rss_gib"].get<double>(), 0.0);
  EXPECT_GE(stats["rss_peak_gib"].get<double>(), stats["rss_gib"].get<double>());
  EXPECT_GE(stats["load_1m"].get<double>(), 0.0);
  for (const auto& [key, value] : stats.items()) {
    EXPECT_EQ(key.find("util"), std::string::npos) << key << " would be charted as GPU utilisation";
    EXPECT_EQ(key.find("mem"), std::string::npos) << key << " would be charted as GPU memory";
  }
}

// ---- UUIDs ----------------------------------------------------------------------------

TEST(GpuUuid, FormatsCudaBytesAsNvmlDoes) {
  unsigned char bytes[16];
  for (int i = 0; i < 16; ++i) bytes[i] = static_cast<unsigned char>(i == 15 ? 0xff : i);
  EXPECT_EQ(format_gpu_uuid(bytes), "GPU-00010203-0405-0607-0809-0a0b0c0d0eff");
  char signed_bytes[16];  // cudaUUID_t::bytes is char[16]: 0xab must not print as ffffffab
  for (int i = 0; i < 16; ++i) signed_bytes[i] = static_cast<char>(0xa0 + i);
  EXPECT_EQ(format_gpu_uuid(signed_bytes), "GPU-a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf");
}

// ---- NVML absent ----------------------------------------------------------------------

void expect_unavailable(GpuStatsSampler& sampler, const std::string& uuid, const std::string& reason_part) {
  EXPECT_FALSE(sampler.start(uuid));
  EXPECT_FALSE(sampler.running());
  EXPECT_NE(sampler.unavailable_reason().find(reason_part), std::string::npos) << sampler.unavailable_reason();
  EXPECT_EQ(sampler.unavailable_reason().find('\n'), std::string::npos) << "one line";
  EXPECT_FALSE(sampler.sample_now());
  EXPECT_EQ(sampler.snapshot_json(), json::object());
  sampler.stop();
  sampler.stop();
}

TEST(GpuStats, MissingLibraryIsUnavailableWithReason) {
  GpuStatsSampler sampler("libnvidia-ml-shrike-absent.so.1");
  expect_unavailable(sampler, kUuidA, "cannot load libnvidia-ml-shrike-absent.so.1");
}

TEST(GpuStats, LibraryWithoutNvmlFunctionsNamesTheFirstMissing) {
  GpuStatsSampler sampler("libm.so.6");
  expect_unavailable(sampler, kUuidA, "libm.so.6 is not a usable NVML: it lacks the function nvmlInit_v2");
}

TEST(GpuStats, NoDriverOnThisMachineMeansUnavailable) {
  if (void* driver = ::dlopen(GpuStatsSampler::kDefaultLibrary, RTLD_NOW | RTLD_LOCAL)) {
    ::dlclose(driver);
    GTEST_SKIP() << GpuStatsSampler::kDefaultLibrary << " loads here (a driver or the fake is installed)";
  }
  GpuStatsSampler sampler;
  expect_unavailable(sampler, kUuidA, "NVML not available: cannot load libnvidia-ml.so.1");
}

TEST(GpuStats, UnstartedSamplerIsEmpty) {
  GpuStatsSampler sampler;
  EXPECT_FALSE(sampler.running());
  EXPECT_EQ(sampler.unavailable_reason(), "");
  EXPECT_EQ(sampler.snapshot_json(), json::object());
}

// ---- the fake NVML, loaded by path ------------------------------------------------------

// The fake's controls, from the same loaded copy the sampler uses.
class FakeNvml : public ::testing::Test {
 protected:
  void SetUp() override {
    handle_ = ::dlopen(SHRIKE_FAKE_NVML, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << ::dlerror();
    set_util = control<void (*)(int, unsigned)>("fake_nvml_set_util");
    set_results = control<void (*)(int, int, int)>("fake_nvml_set_results");
    init_calls = control<int (*)()>("fake_nvml_init_calls");
    shutdown_calls = control<int (*)()>("fake_nvml_shutdown_calls");
    utilization_calls = control<int (*)()>("fake_nvml_utilization_calls");
    set_results(0, 0, 0);
    set_util(0, 10);
    set_util(1, 75);
  }
  void TearDown() override {
    if (handle_ != nullptr) ::dlclose(handle_);
  }
  template <typename F>
  F control(const char* name) {
    void* address = ::dlsym(handle_, name);
    EXPECT_NE(address, nullptr) << name;
    return reinterpret_cast<F>(address);
  }

  void* handle_ = nullptr;
  void (*set_util)(int, unsigned) = nullptr;
  void (*set_results)(int, int, int) = nullptr;
  int (*init_calls)() = nullptr;
  int (*shutdown_calls)() = nullptr;
  int (*utilization_calls)() = nullptr;
};

constexpr auto kNoBackgroundSamples = std::chrono::hours(1);

TEST_F(FakeNvml, ValuesReachTheJson) {
  GpuStatsSampler sampler(SHRIKE_FAKE_NVML, kNoBackgroundSamples);
  ASSERT_TRUE(sampler.start(kUuidB)) << sampler.unavailable_reason();
  EXPECT_TRUE(sampler.running());
  EXPECT_EQ(sampler.device_name(), "Fake GPU B");
  const json stats = sampler.snapshot_json();
  EXPECT_EQ(stats["gpu_util"], 75.0) << stats.dump();
  EXPECT_EQ(stats["gpu_mem_util"], 40.0);
  EXPECT_DOUBLE_EQ(stats["gpu_mem_used_gib"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(stats["gpu_mem_total_gib"].get<double>(), 80.0);
  EXPECT_DOUBLE_EQ(stats["gpu_power_w"].get<double>(), 312.5);
  EXPECT_EQ(stats["gpu_temp_c"], 61.0);
  EXPECT_EQ(stats["gpu_samples"], 1);
  EXPECT_EQ(stats["gpu_util_mean"], 75.0);
  EXPECT_EQ(stats["gpu_util_max"], 75.0);
  EXPECT_DOUBLE_EQ(stats["gpu_power_max_w"].get<double>(), 312.5);
  EXPECT_EQ(stats.size(), 13u) << stats.dump();
}

TEST_F(FakeNvml, UuidPicksTheDevice) {
  GpuStatsSampler sampler(SHRIKE_FAKE_NVML, kNoBackgroundSamples);
  ASSERT_TRUE(sampler.start(kUuidA)) << sampler.unavailable_reason();
  EXPECT_EQ(sampler.device_name(), "Fake GPU A");
  EXPECT_EQ(sampler.snapshot_json()["gpu_util"], 10.0);
  ASSERT_TRUE(sampler.start(kUuidB)) << sampler.unavailable_reason();  // a restart switches device
  EXPECT_EQ(sampler.snapshot_json()["gpu_util"], 75.0);
  const std::string unknown = "GPU-00000000-0000-0000-0000-000000000000";
  expect_unavailable(sampler, unknown, "no NVML device with UUID " + unknown);
  EXPECT_NE(sampler.unavailable_reason().find("Not Found (NVML error 6)"), std::string::npos)
      << sampler.unavailable_reason();
  expect_unavailable(sampler, "", "no GPU UUID was given");
}

TEST_F(FakeNvml, MeanAndMaxCoverTheWindowSinceTheLastSnapshot) {
  GpuStatsSampler sampler(SHRIKE_FAKE_NVML, kNoBackgroundSamples);
  set_util(1, 20);
  ASSERT_TRUE(sampler.start(kUuidB));  // first sample: 20
  set_util(1, 60);
  ASSERT_TRUE(sampler.sample_now());
  set_util(1, 40);
  ASSERT_TRUE(sampler.sample_now());
  json stats = sampler.snapshot_json();
  EXPECT_EQ(stats["gpu_util"], 40.0);
  EXPECT_DOUBLE_EQ(stats["gpu_util_mean"].get<double>(), 40.0);
  EXPECT_EQ(stats["gpu_util_max"], 60.0);
  EXPECT_EQ(stats["gpu_samples"], 3);
  set_util(1, 30);
  ASSERT_TRUE(sampler.sample_now());
  stats = sampler.snapshot_json();
  EXPECT_EQ(stats["gpu_util_max"], 30.0) << "a new window starts at each snapshot";
  EXPECT_EQ(stats["gpu_samples"], 1);
  stats = sampler.snapshot_json();  // an empty window keeps the latest reading
  EXPECT_EQ(stats["gpu_util"], 30.0);
  EXPECT_EQ(stats["gpu_samples"], 0);
  EXPECT_FALSE(stats.contains("gpu_util_mean"));
}

TEST_F(FakeNvml, UnsupportedReadingsAreLeftOut) {
  set_results(0, /*power: NOT_SUPPORTED*/ 3, 0);
  GpuStatsSampler sampler(SHRIKE_FAKE_NVML, kNoBackgroundSamples);
  ASSERT_TRUE(sampler.start(kUuidA)) << sampler.unavailable_reason();
  const json stats = sampler.snapshot_json();
  EXPECT_FALSE(stats.contains("gpu_power_w")) << stats.dump();
  EXPECT_FALSE(stats.contains("gpu_power_mean_w"));
  EXPECT_EQ(stats["gpu_temp_c"], 40.0);
  set_results(0, 0, /*every reading*/ 3);
  expect_unavailable(sampler, kUuidA, "reports no stats: every query is unsupported");
  set_results(0, 0, /*every reading: GPU lost*/ 15);
  expect_unavailable(sampler, kUuidA, "nvmlDeviceGetUtilizationRates: Unknown Error (NVML error 15)");
}

TEST_F(FakeNvml, InitFailureIsReportedAndInitsAreBalanced) {
  const int inits = init_calls(), shutdowns = shutdown_calls();
  set_results(/*DRIVER_NOT_LOADED*/ 9, 0, 0);
  {
    GpuStatsSampler sampler(SHRIKE_FAKE_NVML, kNoBackgroundSamples);
    expect_unavailable(sampler, kUuidA, "nvmlInit_v2 failed: Driver Not Loaded (NVML error 9)");
  }
  EXPECT_EQ(shutdown_calls(), shutdowns) << "no nvmlShutdown after a failed nvmlInit";
  set_results(0, 0, 0);
  {
    GpuStatsSampler sampler(SHRIKE_FAKE_NVML, kNoBackgroundSamples);
    ASSERT_TRUE(sampler.start(kUuidA));
    ASSERT_TRUE(sampler.start(kUuidB));
    EXPECT_FALSE(sampler.start("GPU-unknown"));
  }  // the destructor stops
  EXPECT_EQ(init_calls() - inits, 4);
  EXPECT_EQ(shutdown_calls() - shutdowns, 3);
}

TEST_F(FakeNvml, ThreadSamplesOnItsPeriodAndStopsAtOnce) {
  {
    GpuStatsSampler sampler(SHRIKE_FAKE_NVML, 20ms);
    const int before = utilization_calls();
    ASSERT_TRUE(sampler.start(kUuidA));
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (utilization_calls() - before < 4 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    EXPECT_GE(utilization_calls() - before, 4) << "the thread did not sample every 20 ms";
    EXPECT_GE(sampler.snapshot_json()["gpu_samples"].get<int>(), 1);
  }
  GpuStatsSampler slow(SHRIKE_FAKE_NVML, 30s);
  ASSERT_TRUE(slow.start(kUuidA));
  std::this_thread::sleep_for(50ms);
  const auto begin = std::chrono::steady_clock::now();
  slow.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s) << "stop() waited for the 30 s period";
  EXPECT_FALSE(slow.running());
  EXPECT_EQ(slow.snapshot_json(), json::object());
}

// ---- the default name on LD_LIBRARY_PATH, and a real device ----------------------------

TEST(NvmlOnLibraryPath, DefaultNameLoadsTheFake) {
  if (std::getenv("SHRIKE_FAKE_NVML_ON_PATH") == nullptr) {
    GTEST_SKIP() << "run by ctest as unit.system_stats_fake_nvml_on_library_path with LD_LIBRARY_PATH set";
  }
  GpuStatsSampler sampler;  // "libnvidia-ml.so.1", found through LD_LIBRARY_PATH
  ASSERT_TRUE(sampler.start(kUuidB)) << sampler.unavailable_reason();
  EXPECT_EQ(sampler.device_name(), "Fake GPU B");
  EXPECT_EQ(sampler.snapshot_json()["gpu_temp_c"], 61.0);
}

TEST(RealNvml, ReadsTheDeviceNamedBySHRIKE_TEST_GPU_UUID) {
  const char* uuid = std::getenv("SHRIKE_TEST_GPU_UUID");
  if (uuid == nullptr || *uuid == '\0') GTEST_SKIP() << "set SHRIKE_TEST_GPU_UUID (nvidia-smi --query-gpu=uuid) on a GPU machine";
  GpuStatsSampler sampler;
  ASSERT_TRUE(sampler.start(uuid)) << sampler.unavailable_reason();
  const json stats = sampler.snapshot_json();
  std::printf("device: %s  %s\n", sampler.device_name().c_str(), stats.dump().c_str());
  EXPECT_GT(stats.value("gpu_mem_total_gib", 0.0), 1.0) << stats.dump();
  EXPECT_GT(stats.value("gpu_temp_c", 0.0), 0.0) << stats.dump();
}

}  // namespace
}  // namespace shrike::train
