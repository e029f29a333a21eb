// pipeline/data/shard_writer.h
//
// Writes one shard file (layout in shard_format.h). Samples are appended one by one
// (pixels go straight to the file; the small per-sample arrays are kept in memory and
// written at close). The file is written under a temporary name and renamed to its
// final name only by close(): a crash or an exception leaves no file under the final
// name, and the destructor removes the temporary one. One thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/data/hdf5_check.h"
#include "pipeline/data/label_file.h"
#include "pipeline/data/shard_format.h"

namespace shrike::data {

// One sample as stored: `data` is raw RGB (height, width, 3) or JPEG bytes.
struct ShardSample {
  std::string source_path;
  int height = 0, width = 0;
  int orig_height = 0, orig_width = 0;
  std::vector<std::uint8_t> data;
  std::vector<LabelBox> boxes;
};

struct ShardHeader {
  std::string split;
  int shard_index = 0;
  int shard_count = 1;
  int imgsz = 640;
  ShardEncoding encoding = ShardEncoding::kRaw;
  std::string names_json;  // JSON list of class names
};

struct WrittenShard {
  std::filesystem::path path;
  std::size_t images = 0;
  std::size_t boxes = 0;
  std::uint64_t bytes = 0;      // file size
  std::uint64_t data_bytes = 0; // pixel (or JPEG) bytes
  std::string sha256;
};

class ShardWriter {
 public:
  ShardWriter(std::filesystem::path final_path, ShardHeader header);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void append(const ShardSample& sample);
  // Writes the index arrays and attributes, closes, computes the checksum, renames.
  WrittenShard close();

 private:
  std::filesystem::path final_path_;
  std::filesystem::path temp_path_;
  std::string context_;
  ShardHeader header_;
  H5Handle file_;
  H5Handle pixels_;
  std::vector<std::uint64_t> image_offsets_{0};
  std::vector<std::int32_t> shapes_, orig_shapes_;
  std::vector<float> boxes_;
  std::vector<std::int32_t> classes_;
  std::vector<std::uint64_t> label_offsets_{0};
  std::vector<std::uint8_t> paths_;
  std::vector<std::uint64_t> path_offsets_{0};
  bool closed_ = false;
};

}  // namespace shrike::data
