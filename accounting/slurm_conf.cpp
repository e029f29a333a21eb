// accounting/slurm_conf.cpp: KEY=VALUE lines of slurm.conf (comments and Include lines
// skipped; NodeName/PartitionName lines carry several pairs and are not needed here).
#include "accounting/slurm_conf.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

namespace shrike::accounting {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return {};
  const auto end = text.find_last_not_of(" \t\r");
  return text.substr(begin, end - begin + 1);
}

}  // namespace

std::optional<std::string> SlurmConf::get(const std::string& key) const {
  const auto found = keys.find(lower(key));
  if (found == keys.end()) return std::nullopt;
  return found->second;
}

fs::path slurm_conf_path() {
  if (const char* path = std::getenv("SLURM_CONF"); path != nullptr && *path != '\0') return path;
  return "/etc/slurm/slurm.conf";
}

SlurmConf read_slurm_conf(const fs::path& path) {
  SlurmConf conf;
  std::ifstream in(path);
  if (!in) return conf;
  conf.source = path;
  std::string line;
  while (std::getline(in, line)) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    line = trim(line);
    const auto equals = line.find('=');
    if (equals == std::string::npos) continue;
    const std::string key = lower(trim(line.substr(0, equals)));
    if (key == "nodename" || key == "partitionname" || key == "include") continue;
    conf.keys[key] = trim(line.substr(equals + 1));
  }
  return conf;
}

}  // namespace shrike::accounting
