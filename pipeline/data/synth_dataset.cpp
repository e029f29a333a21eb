// pipeline/data/synth_dataset.cpp: the option checks, the temporary sibling folder,
// rendering on every core with in-order writing, data.yaml, and the final rename.
#include "pipeline/data/synth_dataset.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <system_error>

#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/core/interrupt.h"
#include "pipeline/core/ordered_parallel.h"
#include "pipeline/core/progress.h"
#include "pipeline/data/image_codec.h"
#include "pipeline/data/synth_scene.h"

namespace shrike::data {

namespace fs = std::filesystem;

namespace {

constexpr int kJpegQuality = 90;
constexpr bool kJpegFullChroma = false;

std::string class_list(int classes) {
  std::string text;
  for (int k = 0; k < classes; ++k) text += fmt::format("{}{}", k ? ", " : "", kSynthClassNames[k]);
  return text;
}

void check_options(const SynthOptions& options) {
  if (options.out.empty()) fail_user("synth: --out is empty; name the dataset folder to create");
  if (options.classes < 1 || options.classes > kSynthMaxClasses) {
    fail_user("synth: --classes {} is out of range: the synthetic dataset has 1 to {} classes ({})",
              options.classes, kSynthMaxClasses, class_list(kSynthMaxClasses));
  }
  if (options.train < 1 || options.train > kSynthMaxImagesPerSplit) {
    fail_user("synth: --train {} is out of range 1..{}", options.train, kSynthMaxImagesPerSplit);
  }
  if (options.val < 0 || options.val > kSynthMaxImagesPerSplit) {
    fail_user("synth: --val {} is out of range 0..{}", options.val, kSynthMaxImagesPerSplit);
  }
}

// `out` made absolute and normal, without a trailing slash (so it has a file name).
fs::path normalised_output_path(const fs::path& out) {
  fs::path path = fs::absolute(out).lexically_normal();
  if (!path.has_filename() && path.has_parent_path()) path = path.parent_path();
  if (!path.has_filename() || path == path.root_path()) {
    fail_user("synth: --out {} names no folder that could be created", out.string());
  }
  return path;
}

// Fails unless `out` is absent, an empty folder, or (with `overwrite`) any folder.
void check_output_free(const fs::path& out, bool overwrite) {
  std::error_code error;
  fs::file_status status = fs::status(out, error);
  if (!fs::exists(status)) return;
  if (!fs::is_directory(status)) {
    fail_user("synth: {} exists and is not a folder; choose another --out", out.string());
  }
  if (!overwrite && !fs::is_empty(out, error)) {
    fail_user(
        "synth: {} already exists and is not empty. Choose another --out, or pass --overwrite "
        "to replace it (its contents are deleted once the new dataset is complete).",
        out.string());
  }
}

void make_folder(const fs::path& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error) fail_user("cannot create folder {}: {}", path.string(), error.message());
}

void write_whole_file(const fs::path& path, const void* data, std::size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_user("cannot write {}: {}", path.string(), errno_text(errno));
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  std::size_t written = 0;
  while (written < size) {
    ssize_t n = ::write(fd, bytes + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      fail_user("cannot write {}: {}", path.string(), errno_text(err));
    }
    written += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) fail_user("cannot write {}: {}", path.string(), errno_text(errno));
}

// Flushes everything written under `folder` to disk (one syncfs instead of an fsync per
// file), so the rename that publishes the dataset never publishes unwritten files.
void sync_file_system(const fs::path& folder) {
  int fd = ::open(folder.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::syncfs(fd) != 0) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    fail_user("cannot sync {} to disk: {}", folder.string(), errno_text(err));
  }
  ::close(fd);
}

// One image of a split, rendered and encoded by a worker, written by the caller.
struct RenderedImage {
  std::vector<std::uint8_t> jpeg;
  std::string labels;
  int boxes = 0;
};

RenderedImage render_image(const SynthOptions& options, int split, std::size_t index) {
  throw_if_interrupted();
  SynthScene scene = render_synthetic_scene(synth_image_seed(options.seed, split, index), options.classes);
  return {encode_jpeg(scene.image, kJpegQuality, kJpegFullChroma), format_yolo_labels(scene),
          static_cast<int>(scene.objects.size())};
}

// Writes images/<name>/ and labels/<name>/ of split `split` (0 train, 1 val) under `root`.
SynthSplitSummary write_split(const fs::path& root, int split, const std::string& name, int count,
                              const SynthOptions& options) {
  fs::path image_folder = root / "images" / name, label_folder = root / "labels" / name;
  make_folder(image_folder);
  make_folder(label_folder);
  SynthSplitSummary summary{name};
  std::optional<ProgressBar> bar;
  if (options.progress) bar.emplace(fmt::format("synth {}", name), static_cast<std::size_t>(count));
  unsigned threads = options.threads > 0 ? options.threads : available_cores();
  run_ordered_parallel(
      static_cast<std::size_t>(count), threads, 2 * threads + 2,
      [&](std::size_t index) { return render_image(options, split, index); },
      [&](std::size_t index, RenderedImage image) {
        throw_if_interrupted();
        std::string stem = fmt::format("{:06}", index);
        write_whole_file(image_folder / (stem + ".jpg"), image.jpeg.data(), image.jpeg.size());
        write_whole_file(label_folder / (stem + ".txt"), image.labels.data(), image.labels.size());
        summary.images += 1;
        summary.boxes += image.boxes;
        summary.backgrounds += image.boxes == 0 ? 1 : 0;
        if (bar) bar->advance();
      });
  if (bar) bar->finish();
  return summary;
}

// Publishes the complete dataset `temp` as `out`. An existing `out` (allowed by
// check_output_free) is moved aside first and deleted only after the new one is in place.
void move_into_place(const fs::path& temp, const fs::path& out, bool overwrite) {
  check_output_free(out, overwrite);  // again: another process may have filled it meanwhile
  std::error_code error;
  if (!fs::exists(out, error) || fs::is_empty(out, error)) {
    rename_durably(temp, out);  // rename(2) replaces an empty folder
    return;
  }
  fs::path old = out.parent_path() / fmt::format("{}.old-{}", out.filename().string(), ::getpid());
  rename_durably(out, old);
  try {
    rename_durably(temp, out);
  } catch (...) {
    fs::rename(old, out, error);  // put the old dataset back
    throw;
  }
  fs::remove_all(old, error);
  if (error) {
    fmt::print(stderr, "warning: could not delete the replaced dataset {}: {}\n", old.string(),
               error.message());
  }
}

}  // namespace

std::string synth_data_yaml(int classes, int train, int val, std::uint64_t seed) {
  std::string text = fmt::format(
      "# Synthetic detection dataset written by\n"
      "#   shrike synth --train {} --val {} --classes {} --seed {}\n"
      "# (the same command writes the same bytes again).\n"
      "path: .\n"
      "train: images/train\n"
      "val: images/val\n"
      "nc: {}\n"
      "names:\n",
      train, val, classes, seed, classes);
  for (int k = 0; k < classes; ++k) text += fmt::format("  - {}\n", kSynthClassNames[k]);
  return text;
}

SynthSummary write_synthetic_dataset(const SynthOptions& options) {
  check_options(options);
  auto start = std::chrono::steady_clock::now();
  SynthSummary summary;
  summary.out = normalised_output_path(options.out);
  check_output_free(summary.out, options.overwrite);
  make_folder(summary.out.parent_path());
  fs::path temp = temporary_sibling(summary.out);
  std::error_code ignored;
  fs::remove_all(temp, ignored);  // a leftover of an earlier process with our pid
  try {
    make_folder(temp);
    std::string yaml = synth_data_yaml(options.classes, options.train, options.val, options.seed);
    write_whole_file(temp / "data.yaml", yaml.data(), yaml.size());
    summary.splits.push_back(write_split(temp, 0, "train", options.train, options));
    summary.splits.push_back(write_split(temp, 1, "val", options.val, options));
    throw_if_interrupted();
    sync_file_system(temp);
    move_into_place(temp, summary.out, options.overwrite);
  } catch (...) {
    fs::remove_all(temp, ignored);
    throw;
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace shrike::data
