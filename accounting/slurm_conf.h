// accounting/slurm_conf.h
//
// The few slurm.conf settings accounting needs: ClusterName (the cluster of a job id),
// SlurmUser (who may settle from the epilog), JobCompType and JobCompLoc (the
// completion log settlement and reconciliation read). slurm.conf is SLURM_CONF when
// set, else /etc/slurm/slurm.conf. Keys are case-insensitive, as Slurm reads them.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace shrike::accounting {

struct SlurmConf {
  std::filesystem::path source;             // empty when no slurm.conf was found
  std::map<std::string, std::string> keys;  // lower-case key -> value (last one wins)
  std::optional<std::string> get(const std::string& key) const;
};

std::filesystem::path slurm_conf_path();
// Reads `path`; an empty SlurmConf when the file does not exist.
SlurmConf read_slurm_conf(const std::filesystem::path& path);

}  // namespace shrike::accounting
