// pipeline/data/shard_build.cpp: listing, parallel decode, ordered shard writing,
// the temporary output folder and its final rename.
#include "pipeline/data/shard_build.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "build_info.h"
#include "kernels/resize.h"
#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/core/paths.h"
#include "pipeline/core/interrupt.h"
#include "pipeline/core/ordered_parallel.h"
#include "pipeline/core/progress.h"
#include "pipeline/core/sha256.h"
#include "pipeline/core/utc_time.h"
#include "pipeline/data/image_codec.h"
#include "pipeline/data/label_file.h"
#include "pipeline/data/sample_problem.h"
#include "pipeline/data/shard_manifest.h"
#include "pipeline/data/shard_writer.h"

namespace shrike::data {

namespace fs = std::filesystem;

namespace {

constexpr double kTargetShardBytes = 1024.0 * 1024 * 1024;
constexpr std::size_t kJpegProbes = 16;        // images encoded to estimate JPEG size
constexpr std::size_t kWindowPerThread = 8;    // decoded samples in flight per worker
constexpr std::size_t kProblemsShown = 10;

// One decoded sample, or the problem that skips it.
struct LoadedSample {
  std::optional<ShardSample> sample;
  std::optional<ProblemRecord> problem;
  ParsedLabels labels;
  std::uint64_t jpeg_probe_bytes = 0;
};

LoadedSample load_sample(const std::string& path, const ShardOptions& options, int num_classes, bool probe_jpeg) {
  LoadedSample loaded;
  try {
    loaded.labels = read_label_file(label_path_for_image(path), num_classes);
    std::vector<std::uint8_t> bytes = read_file_bytes(path);
    RgbImage image = decode_image(bytes, path);
    ShardSample sample;
    sample.source_path = path;
    sample.orig_height = image.height;
    sample.orig_width = image.width;
    stored_size(image.height, image.width, options.imgsz, &sample.height, &sample.width);
    RgbImage resized{sample.height, sample.width, {}};
    resized.pixels.resize(static_cast<std::size_t>(sample.height) * sample.width * 3);
    kernels::resize_bilinear_u8_cpu(resized.pixels.data(), {sample.height, sample.width, 3}, image.pixels.data(),
                                    {image.height, image.width, 3});
    if (options.encoding == ShardEncoding::kJpeg) {
      sample.data = encode_jpeg(resized, options.jpeg_quality, true);
    } else {
      if (probe_jpeg) loaded.jpeg_probe_bytes = encode_jpeg(resized, options.jpeg_quality, true).size();
      sample.data = std::move(resized.pixels);
    }
    sample.boxes = loaded.labels.boxes;
    loaded.sample = std::move(sample);
  } catch (const SampleProblem& problem) {
    std::string text = problem.what();
    std::string prefix = problem.where() + ": ";
    loaded.problem = ProblemRecord{problem.kind(), problem.where(),
                                   text.rfind(prefix, 0) == 0 ? text.substr(prefix.size()) : text};
  }
  return loaded;
}

int auto_shard_count(std::size_t images, const ShardOptions& options) {
  double per_image = options.imgsz * static_cast<double>(options.imgsz) * 3 * 0.75;
  if (options.encoding == ShardEncoding::kJpeg) per_image /= 6;
  double wanted = std::ceil(static_cast<double>(images) * per_image / kTargetShardBytes);
  return static_cast<int>(std::clamp<double>(wanted, 1, static_cast<double>(std::max<std::size_t>(images, 1))));
}

// Writes the shards of one split into `folder/<split>/`, filling `report` and `entry`.
class SplitSharder {
 public:
  SplitSharder(const ShardOptions& options, const DataYaml& data, const fs::path& folder, SplitReport& report,
               SplitManifest& entry)
      : options_(options), data_(data), folder_(folder), report_(report), entry_(entry) {
    names_json_ = nlohmann::json(data.names).dump();
  }

  void run(const SplitListing& listing) {
    const std::size_t n = listing.images.size();
    shard_count_ = options_.shards > 0 ? std::min<int>(options_.shards, static_cast<int>(n))
                                       : auto_shard_count(n, options_);
    fs::create_directories(folder_ / listing.split);
    unsigned threads = options_.threads > 0 ? options_.threads : available_cores();
    std::optional<ProgressBar> progress;
    if (options_.progress) progress.emplace("shard " + listing.split, n);
    const std::size_t probe_every = std::max<std::size_t>(1, n / kJpegProbes);
    run_ordered_parallel(
        n, threads, threads * kWindowPerThread,
        [&](std::size_t i) {
          throw_if_interrupted();
          return load_sample(listing.images[i], options_, static_cast<int>(data_.names.size()),
                             i % probe_every == 0);
        },
        [&](std::size_t i, LoadedSample loaded) {
          throw_if_interrupted();
          consume(i, n, listing.split, loaded);
          if (progress) progress->advance();
        });
    while (current_shard_ + 1 < shard_count_) open_next_shard(listing.split);
    close_current_shard();
    if (progress) progress->finish();
  }

 private:
  void consume(std::size_t i, std::size_t n, const std::string& split, LoadedSample& loaded) {
    int shard = static_cast<int>(i * static_cast<std::size_t>(shard_count_) / n);
    while (current_shard_ < shard) open_next_shard(split);
    if (loaded.problem) {
      report_.problems.push_back(*loaded.problem);
      return;
    }
    const ShardSample& sample = *loaded.sample;
    writer_->append(sample);
    report_.images += 1;
    report_.boxes += sample.boxes.size();
    report_.missing_labels += loaded.labels.file_missing ? 1 : 0;
    report_.empty_labels += (!loaded.labels.file_missing && sample.boxes.empty() &&
                             loaded.labels.dropped_empty == 0) ? 1 : 0;
    report_.duplicates_removed += loaded.labels.duplicates_removed;
    report_.clipped += loaded.labels.clipped;
    report_.dropped_empty += loaded.labels.dropped_empty;
    report_.stored_bytes += sample.data.size();
    const std::uint64_t raw = static_cast<std::uint64_t>(sample.height) * sample.width * 3;
    report_.raw_bytes += raw;
    if (loaded.jpeg_probe_bytes > 0) {
      report_.jpeg_probe_bytes += loaded.jpeg_probe_bytes;
      report_.jpeg_probe_raw_bytes += raw;
    }
  }

  void open_next_shard(const std::string& split) {
    close_current_shard();
    ++current_shard_;
    std::string name = shard_file_name(current_shard_, shard_count_);
    ShardHeader header{split, current_shard_, shard_count_, options_.imgsz, options_.encoding, names_json_};
    writer_ = std::make_unique<ShardWriter>(folder_ / split / name, header);
    writer_name_ = split + "/" + name;
  }

  void close_current_shard() {
    if (!writer_) return;
    WrittenShard written = writer_->close();
    writer_.reset();
    entry_.shards.push_back({writer_name_, written.images, written.boxes, written.bytes, written.sha256});
  }

  const ShardOptions& options_;
  const DataYaml& data_;
  fs::path folder_;
  SplitReport& report_;
  SplitManifest& entry_;
  std::string names_json_;
  int shard_count_ = 1;
  int current_shard_ = -1;
  std::unique_ptr<ShardWriter> writer_;
  std::string writer_name_;
};

bool folder_is_empty(const fs::path& dir) { return fs::is_directory(dir) && fs::directory_iterator(dir) == fs::directory_iterator(); }

void check_output_folder(const ShardOptions& options) {
  const fs::path& out = options.out;
  if (!fs::exists(out) || folder_is_empty(out)) return;
  if (!fs::is_directory(out)) fail_user("--out {} exists and is not a folder; choose another path.", out.string());
  if (!fs::exists(out / kManifestFile)) {
    fail_user("--out {} is not empty and holds no shards (no {}); shrike will not write into it. "
              "Choose a new or empty folder.", out.string(), kManifestFile);
  }
  if (!options.overwrite) {
    fail_user("--out {} already holds shards ({}). Pass --overwrite to replace them (the old shards "
              "stay until the new ones are complete) or choose another folder.", out.string(), kManifestFile);
  }
}

// Removes "<out>.tmp-<pid>" folders left by runs that were killed (their pid is gone).
void remove_stale_temporaries(const fs::path& out) {
  fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  std::string prefix = out.filename().string() + ".tmp-";
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(parent, error)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    pid_t pid = static_cast<pid_t>(std::atol(name.c_str() + prefix.size()));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) {
      fmt::print(stderr, "note: removing {} left by an interrupted run\n", entry.path().string());
      fs::remove_all(entry.path(), error);
    }
  }
}

// Moves the finished temporary folder to `out`, replacing an old shard folder last.
void publish(const fs::path& temp, const fs::path& out) {
  if (fs::exists(out)) {
    fs::path old = out.parent_path() / (out.filename().string() + fmt::format(".old-{}", ::getpid()));
    rename_durably(out, old);
    rename_durably(temp, out);
    fs::remove_all(old);
  } else {
    rename_durably(temp, out);
  }
}

std::string names_of(const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& key : keys) out += (out.empty() ? "" : ", ") + key;
  return out;
}

void stat_into(Sha256& digest, const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    digest.update(path + "\tmissing\n");
    return;
  }
  digest.update(fmt::format("{}\t{}\t{}.{}\n", path, info.st_size, info.st_mtim.tv_sec, info.st_mtim.tv_nsec));
}

ShardRunReport build_into(const ShardOptions& options, const DataYaml& data,
                          const std::vector<SplitListing>& listings, const fs::path& temp) {
  ShardRunReport report{options.out.string(), options.encoding, options.imgsz, {}, 0};
  ShardManifest manifest;
  manifest.imgsz = options.imgsz;
  manifest.encoding = encoding_name(options.encoding);
  manifest.names = data.names;
  manifest.data_yaml = data.file.string();
  manifest.source_fingerprint = source_fingerprint(data, listings);
  manifest.created = utc_timestamp_now();
  manifest.shrike_version = kVersion;
  manifest.git_commit = kGitCommit;
  const auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
  for (std::size_t s = 0; s < listings.size(); ++s) {
    const SplitListing& listing = listings[s];
    SplitReport split_report;
    split_report.split = listing.split;
    split_report.listed = listing.images.size() + listing.missing.size();
    split_report.non_image_files = listing.non_image_files;
    split_report.duplicate_entries = listing.duplicate_entries;
    split_report.orphans = find_orphan_labels(listing);
    for (const auto& missing : listing.missing) split_report.problems.push_back({"missing image", missing.where, missing.message});
    SplitManifest& entry = manifest.splits[listing.split];
    for (const auto& source : data.splits.at(listing.split).resolved) entry.sources.push_back(source.string());
    auto same = std::find_if(listings.begin(), listings.begin() + static_cast<std::ptrdiff_t>(s),
                             [&](const SplitListing& other) { return other.images == listing.images; });
    if (same != listings.begin() + static_cast<std::ptrdiff_t>(s)) {
      split_report.same_as = same->split;
      SplitManifest shared = manifest.splits.at(same->split);
      shared.sources = entry.sources;
      shared.same_as = same->split;
      entry = shared;
      report.splits.push_back(split_report);
      continue;
    }
    double start = elapsed();
    SplitSharder(options, data, temp, split_report, entry).run(listing);
    split_report.seconds = elapsed() - start;
    split_report.shards = entry.shards.size();
    entry.images = split_report.images;
    entry.boxes = split_report.boxes;
    entry.backgrounds = split_report.missing_labels + split_report.empty_labels;
    entry.skipped = split_report.problems.size();
    entry.data_bytes = split_report.stored_bytes;
    if (split_report.images == 0) {
      fail_user("no usable images in split '{}' of {}: all {} were skipped. First problem: {}: {}", listing.split,
                data.file.string(), split_report.listed, split_report.problems.front().where,
                split_report.problems.front().message);
    }
    report.splits.push_back(split_report);
  }
  report.seconds = elapsed();
  std::string problems = format_problem_list(report);
  if (!problems.empty()) write_file_atomically(temp / "problems.txt", problems);
  write_file_atomically(temp / kManifestFile, manifest_to_json(manifest));
  return report;
}

}  // namespace

void validate_shard_options(const ShardOptions& options) {
  if (options.imgsz < 32 || options.imgsz > 8192 || options.imgsz % 32 != 0) {
    fail_user("--imgsz {} is not usable: it must be a multiple of 32 (the largest stride) between 32 and "
              "8192, e.g. {}.", options.imgsz, std::clamp((options.imgsz + 31) / 32 * 32, 32, 8192));
  }
  if (options.shards < 0) fail_user("--shards {} must be 0 (automatic) or more.", options.shards);
  if (options.jpeg_quality < 1 || options.jpeg_quality > 100) {
    fail_user("--jpeg-quality {} must be between 1 and 100.", options.jpeg_quality);
  }
  if (options.out.empty()) fail_user("--out is required: the folder to write the shards into.");
}

std::vector<std::string> splits_to_shard(const DataYaml& data, const std::vector<std::string>& requested) {
  std::vector<std::string> known;
  for (const auto& [name, source] : data.splits) known.push_back(name);
  if (requested.empty()) {
    // train first: a split equal to an earlier one shares its shards.
    std::vector<std::string> ordered;
    for (const char* name : {"train", "val", "test"}) {
      if (data.splits.count(name)) ordered.push_back(name);
    }
    return ordered;
  }
  for (const auto& split : requested) {
    if (!data.splits.count(split)) {
      fail_user("--splits names '{}', which {} does not define (it has: {}).", split, data.file.string(),
                names_of(known));
    }
  }
  return requested;
}

std::string source_fingerprint(const DataYaml& data, const std::vector<SplitListing>& listings) {
  Sha256 digest;
  std::ifstream yaml(data.file, std::ios::binary);
  std::stringstream text;
  text << yaml.rdbuf();
  digest.update(text.str());
  for (const auto& listing : listings) {
    digest.update("split " + listing.split + "\n");
    for (const auto& image : listing.images) {
      stat_into(digest, image);
      stat_into(digest, label_path_for_image(image));
    }
  }
  return digest.hex();
}

ShardRunReport build_shards(const ShardOptions& options) {
  validate_shard_options(options);
  DataYaml data = load_data_yaml(options.data_yaml);
  std::vector<SplitListing> listings;
  for (const auto& split : splits_to_shard(data, options.splits)) {
    listings.push_back(list_split_images(data, split));
    if (listings.back().images.empty()) {
      fail_user("split '{}' of {} has no images (looked in {}; {} other files found). Check the '{}:' path.",
                split, data.file.string(), names_of([&] {
                  std::vector<std::string> paths;
                  for (const auto& p : data.splits.at(split).resolved) paths.push_back(p.string());
                  return paths;
                }()),
                listings.back().non_image_files, split);
    }
  }
  check_output_folder(options);
  fs::path out = absolute_path(options.out);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  remove_stale_temporaries(out);
  fs::path temp = out.parent_path() / fmt::format("{}.tmp-{}", out.filename().string(), ::getpid());
  std::error_code ignored;
  fs::remove_all(temp, ignored);
  if (!fs::create_directory(temp, ignored)) {
    fail_user("cannot create {}: check that {} is writable.", temp.string(), out.parent_path().string());
  }
  try {
    ShardOptions resolved = options;
    resolved.out = out;
    ShardRunReport report = build_into(resolved, data, listings, temp);
    if (fs::exists(out) && folder_is_empty(out)) fs::remove(out);
    publish(temp, out);
    return report;
  } catch (...) {
    fs::remove_all(temp, ignored);
    throw;
  }
}

}  // namespace shrike::data
