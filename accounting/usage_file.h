// accounting/usage_file.h
//
// usage.json read for charging (DESIGN.md § File contracts "usage.json"). The
// trainer's own reader (pipeline/train/run_folder.h) is lenient and accounting must
// not include training code; this one is strict, because money follows from it:
// malformed JSON, wrong types, a segment that ends before it starts, segments that
// overlap, an unknown instance type, absurd GPU counts or times in the future are
// refused with the file, the segment and the fix, before anything is written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "accounting/instance_catalog.h"

namespace shrike::accounting {

struct UsageSpan {
  int index = 0;  // position in the file's "segments" list (for messages)
  std::int64_t start = 0, end = 0;  // unix seconds
  int gpus = 0;                      // the segment's own, else the top level
  std::string instance;              // idem
  std::string job_id;                // idem ("" outside Slurm)
};

struct UsageFile {
  std::filesystem::path path;
  std::string cluster = "local", account, user, project, run, job_id, instance;
  int gpus = 0;
  std::vector<UsageSpan> segments;  // in start order
};

// Reads and checks `file`. `default_user` fills account and user when absent.
// `now_unix` bounds the segments' ends (a little clock skew is allowed).
UsageFile read_usage_file(const std::filesystem::path& file, const InstanceCatalog& catalog,
                          const std::string& default_user, std::int64_t now_unix);

}  // namespace shrike::accounting
