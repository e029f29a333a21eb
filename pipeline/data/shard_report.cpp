// pipeline/data/shard_report.cpp: the summary text and problems.txt.
#include "pipeline/data/shard_report.h"

#include <fmt/core.h>

#include "pipeline/core/progress.h"

namespace shrike::data {

namespace {

std::string kib(double bytes) { return fmt::format("{:.0f} KiB", bytes / 1024.0); }

void append_split(std::string& out, const SplitReport& split, std::size_t max_problems) {
  if (!split.same_as.empty()) {
    out += fmt::format("  {}: same images as {}; shares its shards\n", split.split, split.same_as);
    return;
  }
  out += fmt::format("  {}: {} images, {} boxes, {} backgrounds ({} without a label file, {} empty), "
                     "{} skipped, {} shard(s), {}\n",
                     split.split, split.images, split.boxes, split.missing_labels + split.empty_labels,
                     split.missing_labels, split.empty_labels, split.problems.size(), split.shards,
                     format_duration(split.seconds));
  if (split.duplicates_removed) out += fmt::format("    removed {} duplicate label lines\n", split.duplicates_removed);
  if (split.clipped) out += fmt::format("    clipped {} boxes that reached outside the image\n", split.clipped);
  if (split.dropped_empty) out += fmt::format("    dropped {} boxes with no area inside the image\n", split.dropped_empty);
  if (split.orphans.count) {
    out += fmt::format("    ignored {} label files ({} lines) that have no image, e.g. {}\n", split.orphans.count,
                       split.orphans.lines, split.orphans.examples.front());
  }
  if (split.non_image_files) {
    out += fmt::format("    ignored {} files without an image extension in the image folders\n", split.non_image_files);
  }
  if (split.duplicate_entries) out += fmt::format("    ignored {} images listed twice\n", split.duplicate_entries);
  if (split.images > 0) {
    double raw = static_cast<double>(split.raw_bytes) / split.images;
    double stored = static_cast<double>(split.stored_bytes) / split.images;
    if (split.jpeg_probe_raw_bytes > 0) {
      double ratio = static_cast<double>(split.jpeg_probe_bytes) / split.jpeg_probe_raw_bytes;
      out += fmt::format("    bytes per image: raw {} (stored); jpeg about {} (--encoding jpeg, "
                         "estimated on a sample)\n", kib(stored), kib(raw * ratio));
    } else if (stored != raw) {
      out += fmt::format("    bytes per image: jpeg {} (stored); raw would be {}\n", kib(stored), kib(raw));
    }
  }
  if (!split.problems.empty()) {
    std::map<std::string, std::size_t> by_kind;
    for (const auto& problem : split.problems) ++by_kind[problem.kind];
    std::string kinds;
    for (const auto& [kind, count] : by_kind) kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", count, kind);
    out += fmt::format("    skipped {} of {} images ({}):\n", split.problems.size(), split.listed, kinds);
    for (std::size_t i = 0; i < split.problems.size() && i < max_problems; ++i) {
      out += fmt::format("      {}: {}\n", split.problems[i].where, split.problems[i].message);
    }
    if (split.problems.size() > max_problems) {
      out += fmt::format("      ... and {} more\n", split.problems.size() - max_problems);
    }
  }
}

}  // namespace

std::string format_shard_summary(const ShardRunReport& report, std::size_t max_problems) {
  std::string out = fmt::format("sharded into {} (imgsz {}, encoding {}) in {}:\n", report.out, report.imgsz,
                                encoding_name(report.encoding), format_duration(report.seconds));
  bool any_problem = false;
  for (const auto& split : report.splits) {
    append_split(out, split, max_problems);
    any_problem = any_problem || !split.problems.empty();
  }
  if (any_problem) out += fmt::format("  every problem is listed in {}/problems.txt\n", report.out);
  return out;
}

std::string format_problem_list(const ShardRunReport& report) {
  std::string out;
  for (const auto& split : report.splits) {
    for (const auto& problem : split.problems) {
      out += fmt::format("{}\t{}\t{}: {}\n", split.split, problem.kind, problem.where, problem.message);
    }
  }
  return out;
}

}  // namespace shrike::data
