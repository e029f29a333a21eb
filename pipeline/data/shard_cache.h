// pipeline/data/shard_cache.h
//
// Shards built on demand, once: when training is given a data.yaml, or a user runs
// `shrike shard DATA.yaml --cache-dir DIR`, the shards go into a folder of the cache
// named by a key of everything that decides their content (source fingerprint,
// imgsz, encoding, splits, shard format version). A matching folder is reused; a
// stale one is never touched (a new key gives a new folder). A lock file per key makes
// concurrent builders (ranks, jobs) wait for the first one instead of racing it.
#pragma once

#include <filesystem>

#include "pipeline/data/shard_build.h"

namespace shrike::data {

struct CachedShards {
  std::filesystem::path dir;
  bool built = false;  // false: an existing cache entry was reused
  ShardRunReport report;  // filled when built
};

// Returns the shard folder for `options` (options.out is ignored) under `cache_root`,
// building it if needed. `on_wait` is called if another process holds the lock.
CachedShards ensure_shard_cache(const ShardOptions& options, const std::filesystem::path& cache_root);

// The folder name for `options` (without building anything).
std::filesystem::path shard_cache_dir(const ShardOptions& options, const std::filesystem::path& cache_root);

}  // namespace shrike::data
