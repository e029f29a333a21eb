// pipeline/data/shard_build.h
//
// `shrike shard`: a YOLO dataset (data.yaml) becomes a shard folder. Images are
// decoded once (all cores), turned upright, resized so the long side is imgsz, and
// written with their validated labels into HDF5 shards by one writer thread; the
// order of samples is the listing order, so the same input gives the same bytes.
// Everything is built in a temporary sibling folder and renamed to --out at the end:
// an interrupted or failed run leaves nothing under the final name, and an existing
// shard folder is replaced only when the new one is complete (--overwrite).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/data/data_yaml.h"
#include "pipeline/data/dataset_listing.h"
#include "pipeline/data/shard_format.h"
#include "pipeline/data/shard_report.h"

namespace shrike::data {

struct ShardOptions {
  std::filesystem::path data_yaml;
  std::filesystem::path out;
  int imgsz = 640;
  int shards = 0;                   // per split; 0 = about 1 GiB per shard
  std::vector<std::string> splits;  // empty = every split in data.yaml
  ShardEncoding encoding = ShardEncoding::kRaw;
  int jpeg_quality = 95;
  bool overwrite = false;
  unsigned threads = 0;             // 0 = the cores this process may use
  bool progress = true;
};

// Checks the options that do not need the file system (UserError naming the option).
void validate_shard_options(const ShardOptions& options);

ShardRunReport build_shards(const ShardOptions& options);

// The splits to shard: options.splits checked against data.yaml, else all of them.
std::vector<std::string> splits_to_shard(const DataYaml& data, const std::vector<std::string>& requested);

// SHA-256 over data.yaml's bytes and the path, size and modification time of every
// image and label file of the listed splits: it changes when the source changes, and
// costs two stat calls per image rather than reading the images.
std::string source_fingerprint(const DataYaml& data, const std::vector<SplitListing>& listings);

}  // namespace shrike::data
