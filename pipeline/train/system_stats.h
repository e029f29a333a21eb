// pipeline/train/system_stats.h
//
// Host figures for metrics.jsonl "system" records (DESIGN.md § Run folder), written by
// the trainer once per epoch so that `shrike monitor`'s system line shows something on
// CPU runs too; on a GPU run the GpuStatsSampler's keys (gpu_stats.h) join them.
// Read from /proc (Linux): a file that cannot be read leaves its keys out.
//   rss_gib        this process's resident memory now (VmRSS), GiB = 2^30 bytes
//   rss_peak_gib   its high-water mark (VmHWM)
//   load_1m        the system's 1-minute load average
// The names avoid "util" and "mem", which the dashboard charts as GPU utilisation
// and GPU memory.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace shrike::train {

nlohmann::json host_system_stats();

// The parts, with the files as arguments (tests give their own).
// Value of a "Key:   123 kB" line of /proc/<pid>/status in GiB, or a null json.
nlohmann::json status_kib_field_gib(const std::filesystem::path& status_file, const std::string& key);
// The first number of /proc/loadavg, or a null json.
nlohmann::json load_average_1m(const std::filesystem::path& loadavg_file);

}  // namespace shrike::train
