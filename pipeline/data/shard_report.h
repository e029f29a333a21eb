// pipeline/data/shard_report.h
//
// What `shrike shard` found and did, per split: images written, boxes, backgrounds,
// every per-sample problem (file, line, message) and the counts of what was cleaned
// (duplicates, clipped boxes) or ignored (orphan labels, non-image files). Turned into
// the end-of-run summary on the terminal and the full `problems.txt` in the output.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pipeline/data/dataset_listing.h"
#include "pipeline/data/shard_format.h"

namespace shrike::data {

struct ProblemRecord {
  std::string kind;
  std::string where;
  std::string message;
};

struct SplitReport {
  std::string split;
  std::string same_as;          // shares another split's shards
  std::size_t listed = 0;       // image files found
  std::size_t images = 0;       // written
  std::size_t boxes = 0;
  std::size_t missing_labels = 0;   // background: no label file
  std::size_t empty_labels = 0;     // background: empty label file
  std::size_t duplicates_removed = 0;
  std::size_t clipped = 0;
  std::size_t dropped_empty = 0;
  std::size_t non_image_files = 0;
  std::size_t duplicate_entries = 0;
  OrphanLabels orphans;
  std::vector<ProblemRecord> problems;  // skipped samples, in input order
  std::uint64_t stored_bytes = 0;       // pixels or JPEG bytes written
  std::uint64_t raw_bytes = 0;          // H*W*3 of the stored images
  std::uint64_t jpeg_probe_bytes = 0;   // raw encoding: JPEG size of a few probe images
  std::uint64_t jpeg_probe_raw_bytes = 0;
  std::size_t shards = 0;
  double seconds = 0;
};

struct ShardRunReport {
  std::string out;
  ShardEncoding encoding = ShardEncoding::kRaw;
  int imgsz = 640;
  std::vector<SplitReport> splits;
  double seconds = 0;
};

// The end-of-run summary: per split counts, the first `max_problems` problems with a
// count per kind, bytes per image for raw and JPEG, where the full list is.
std::string format_shard_summary(const ShardRunReport& report, std::size_t max_problems);
// Every problem, one per line, "split<TAB>kind<TAB>where: message".
std::string format_problem_list(const ShardRunReport& report);

}  // namespace shrike::data
