// pipeline/data/shard_reader.h
//
// Random access to the samples of one split of a shard folder: pixels (decoded RGB),
// stored and original shape, boxes, classes, source path. This is what training reads.
//
// Thread safety: every method is const and safe to call from many threads at once.
// The per-sample index arrays (offsets, shapes, boxes, paths) are read into memory at
// open, so metadata never touches HDF5; pixel reads take one mutex around the HDF5
// call (the library serialises calls anyway; hpc-notes), and JPEG decoding of
// `--encoding jpeg` shards happens outside it, in the calling thread.
// Open after any fork, never before (HDF5 handles do not survive fork).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/data/label_file.h"
#include "pipeline/data/shard_manifest.h"

namespace shrike::data {

// What a sample is without its pixels (cheap: from memory).
struct SampleInfo {
  int height = 0, width = 0;            // stored (long side = imgsz)
  int orig_height = 0, orig_width = 0;  // original, upright
  std::string source_path;
};

struct Sample {
  SampleInfo info;
  std::vector<std::uint8_t> pixels;  // (height, width, 3) RGB
  std::vector<LabelBox> boxes;       // normalised cx, cy, w, h
};

class ShardSet {
 public:
  // Opens split `split` of the shard folder `dir` (UserError naming what is wrong).
  ShardSet(const std::filesystem::path& dir, const std::string& split);
  ~ShardSet();
  ShardSet(ShardSet&&) noexcept;
  ShardSet& operator=(ShardSet&&) noexcept;

  std::size_t size() const;
  const ShardManifest& manifest() const;
  const std::vector<std::string>& names() const;
  int imgsz() const;

  Sample read(std::size_t index) const;
  SampleInfo info(std::size_t index) const;
  std::vector<LabelBox> boxes(std::size_t index) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shrike::data
