// pipeline/data/shard_cache.cpp: cache key, lock, reuse or build.
#include "pipeline/data/shard_cache.h"

#include <fmt/core.h>

#include "pipeline/core/error.h"
#include "pipeline/core/file_lock.h"
#include "pipeline/core/sha256.h"
#include "pipeline/data/shard_manifest.h"

namespace shrike::data {

namespace fs = std::filesystem;

fs::path shard_cache_dir(const ShardOptions& options, const fs::path& cache_root) {
  DataYaml data = load_data_yaml(options.data_yaml);
  std::vector<std::string> splits = splits_to_shard(data, options.splits);
  std::vector<SplitListing> listings;
  for (const auto& split : splits) listings.push_back(list_split_images(data, split));
  std::string key_text = fmt::format("format {}\nimgsz {}\nencoding {}\nquality {}\nsource {}\n", kShardFormatVersion,
                                     options.imgsz, encoding_name(options.encoding), options.jpeg_quality,
                                     source_fingerprint(data, listings));
  for (const auto& split : splits) key_text += "split " + split + "\n";
  std::string key = sha256_hex(key_text).substr(0, 16);
  return cache_root / fmt::format("{}-{}-{}-{}", data.file.stem().string(), options.imgsz,
                                  encoding_name(options.encoding), key);
}

CachedShards ensure_shard_cache(const ShardOptions& options, const fs::path& cache_root) {
  std::error_code error;
  fs::create_directories(cache_root, error);
  if (error) fail_user("cannot create the shard cache folder {}: {}", cache_root.string(), error.message());
  CachedShards cached;
  cached.dir = shard_cache_dir(options, cache_root);
  if (fs::exists(cached.dir / kManifestFile)) return cached;
  FileLock lock(fs::path(cached.dir.string() + ".lock"), [&] {
    fmt::print(stderr, "waiting for another process that is building the shard cache {}\n", cached.dir.string());
  });
  if (fs::exists(cached.dir / kManifestFile)) return cached;  // built while we waited
  ShardOptions build = options;
  build.out = cached.dir;
  build.overwrite = false;
  cached.report = build_shards(build);
  cached.built = true;
  return cached;
}

}  // namespace shrike::data
