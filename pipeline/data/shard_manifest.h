// pipeline/data/shard_manifest.h
//
// `manifest.json` at the top of a shard folder: what the shards hold and where they
// came from. Training opens a shard set through it; humans read it. Example:
//   {"format": "shrike-shards", "version": 1, "imgsz": 640, "encoding": "raw",
//    "names": ["person", ...], "data_yaml": "/data/coco128/coco128.yaml",
//    "source_fingerprint": "3f2a...", "created": "2026-11-22T18:00:00Z",
//    "shrike_version": "0.1.0", "git_commit": "...",
//    "splits": {"train": {"images": 128, "boxes": 929, "backgrounds": 2, "skipped": 0,
//                         "sources": ["/data/coco128/images/train2017"],
//                         "shards": [{"file": "train/part-00000-of-00001.h5", "images": 128,
//                                     "boxes": 929, "bytes": 97000000, "sha256": "..."}]},
//               "val": {..., "same_as": "train"}}}
// A split whose images are exactly another split's ("val: same as train", as in
// coco128.yaml) shares that split's shard files instead of storing them twice.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace shrike::data {

struct ShardFileEntry {
  std::string file;  // relative to the shard folder
  std::size_t images = 0;
  std::size_t boxes = 0;
  std::uint64_t bytes = 0;
  std::string sha256;
};

struct SplitManifest {
  std::size_t images = 0;
  std::size_t boxes = 0;
  std::size_t backgrounds = 0;
  std::size_t skipped = 0;
  std::uint64_t data_bytes = 0;  // pixel (or JPEG) bytes over all images
  std::vector<std::string> sources;
  std::vector<ShardFileEntry> shards;
  std::string same_as;  // non-empty: shares that split's shards
};

struct ShardManifest {
  int version = 1;
  int imgsz = 640;
  std::string encoding = "raw";
  std::vector<std::string> names;
  std::string data_yaml;
  std::string source_fingerprint;
  std::string created;
  std::string shrike_version;
  std::string git_commit;
  std::map<std::string, SplitManifest> splits;
};

inline constexpr const char* kManifestFile = "manifest.json";

std::string manifest_to_json(const ShardManifest& manifest);
// Reads DIR/manifest.json; UserError naming the file and the key when it is missing
// or malformed (with a hint to run `shrike shard`).
ShardManifest read_manifest(const std::filesystem::path& dir);


}  // namespace shrike::data
