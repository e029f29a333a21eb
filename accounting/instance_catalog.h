// accounting/instance_catalog.h
//
// The site's instance catalogue (configs/instances.yaml): what each instance type is
// (GPU model, memory, relative speed, CPUs and memory per GPU), how it maps onto Slurm
// (partition, GRES type, constraint) and what it costs per GPU-hour over time.
// Accounting owns the parser because pricing needs it and accounting must not depend
// on the scheduler (docs: /work/notes/accounting-api.md); the scheduler reads the Slurm
// mapping from the same structs. Prices are US dollars per GPU-hour; a price entry is
// in force from its effective_from date (UTC midnight) until the next entry, so a
// price change never reprices compute that already ran.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace shrike::accounting {

struct InstancePrice {
  std::string effective_from;  // YYYY-MM-DD, UTC midnight
  double per_gpu_hour = 0;     // US dollars per GPU-hour (per process-hour for `cpu`)
  std::int64_t effective_from_unix = 0;  // effective_from as seconds since the epoch
};

struct SlurmMapping {
  std::string partition, gres_type, constraint;  // gres_type "" = no GPUs
};

struct InstanceType {
  std::string id, gpu;
  double gpu_memory_gb = 0, relative_speed = 1, memory_gb_per_gpu = 0;
  int cpus_per_gpu = 1;
  std::vector<InstancePrice> prices;  // sorted by effective_from
  SlurmMapping slurm;
  bool is_cpu() const;  // gres_type empty
  // The price entry in force at `unix_seconds`, or nullptr before the first one.
  const InstancePrice* price_at(std::int64_t unix_seconds) const;
};

struct InstanceCatalog {
  std::filesystem::path source;
  std::vector<InstanceType> types;
  const InstanceType& at(std::string_view id) const;  // UserError listing the known ids
  const InstanceType* find(std::string_view id) const;
  // Price per GPU-hour in force at `when` (UserError if none is in force yet).
  double per_gpu_hour_at(std::string_view id, std::chrono::system_clock::time_point when) const;
  // "rtx3090, rtx4090, ..." for messages.
  std::string known_ids() const;
};

InstanceCatalog load_instance_catalog();                                   // config_dir()/instances.yaml
InstanceCatalog load_instance_catalog(const std::filesystem::path& file);  // errors name file, entry, key

// "2025-01-01" -> seconds since the epoch at UTC midnight; nullopt-like -1 when malformed.
std::int64_t parse_utc_date(std::string_view text);

}  // namespace shrike::accounting
