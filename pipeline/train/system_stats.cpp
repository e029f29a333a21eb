// pipeline/train/system_stats.cpp: host figures from /proc (see system_stats.h).
#include "pipeline/train/system_stats.h"

#include <fstream>
#include <sstream>
#include <string>

namespace shrike::train {

nlohmann::json status_kib_field_gib(const std::filesystem::path& status_file, const std::string& key) {
  std::ifstream in(status_file);
  std::string line;
  const std::string prefix = key + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::istringstream fields(line.substr(prefix.size()));
    double kib = 0;
    std::string unit;
    if (fields >> kib >> unit && unit == "kB") return kib / (1024.0 * 1024.0);
    return nullptr;
  }
  return nullptr;
}

nlohmann::json load_average_1m(const std::filesystem::path& loadavg_file) {
  std::ifstream in(loadavg_file);
  double load = 0;
  if (in >> load) return load;
  return nullptr;
}

nlohmann::json host_system_stats() {
  nlohmann::json out = nlohmann::json::object();
  const auto put = [&](const char* key, nlohmann::json value) {
    if (!value.is_null()) out[key] = std::move(value);
  };
  put("rss_gib", status_kib_field_gib("/proc/self/status", "VmRSS"));
  put("rss_peak_gib", status_kib_field_gib("/proc/self/status", "VmHWM"));
  put("load_1m", load_average_1m("/proc/loadavg"));
  return out;
}

}  // namespace shrike::train
