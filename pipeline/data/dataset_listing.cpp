// pipeline/data/dataset_listing.cpp: folder walks, .txt lists, orphan label files.
#include "pipeline/data/dataset_listing.h"

#include <fmt/core.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "pipeline/core/error.h"
#include "pipeline/core/paths.h"
#include "pipeline/data/label_file.h"

namespace shrike::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kImageExtensions[] = {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png",
                                            ".tif", ".tiff", ".webp", ".pfm", ".heic"};
constexpr std::size_t kOrphanExamples = 3;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::vector<fs::path> walk_sorted(const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code error;
  for (fs::recursive_directory_iterator it(folder, fs::directory_options::follow_directory_symlink, error), end;
       it != end; it.increment(error)) {
    if (error) break;
    if (it->is_regular_file(error)) files.push_back(it->path());
  }
  if (error) fail_user("cannot list {}: {}", folder.string(), error.message());
  std::sort(files.begin(), files.end());
  return files;
}

void add_folder(const fs::path& folder, SplitListing& listing, std::set<std::string>& seen) {
  listing.folders.push_back(folder);
  for (const auto& file : walk_sorted(folder)) {
    if (!has_image_extension(file)) {
      ++listing.non_image_files;
      continue;
    }
    if (!seen.insert(file.string()).second) {
      ++listing.duplicate_entries;
      continue;
    }
    listing.images.push_back(file.string());
  }
}

void add_list_file(const fs::path& list, SplitListing& listing, std::set<std::string>& seen) {
  std::ifstream in(list);
  if (!in) fail_user("cannot read the image list {}: check its permissions.", list.string());
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    fs::path entry = line.substr(first);
    fs::path path = resolve_path(list.parent_path(), entry);
    if (!fs::exists(path)) {
      listing.missing.push_back({fmt::format("{}:{}", list.string(), number),
                                 fmt::format("listed image {} does not exist", path.string())});
      continue;
    }
    if (!seen.insert(path.string()).second) {
      ++listing.duplicate_entries;
      continue;
    }
    listing.images.push_back(path.string());
  }
}

// "/d/images/train" -> "/d/labels/train", as label_path_for_image maps files.
fs::path labels_folder_for(const fs::path& image_folder) {
  std::string probe = label_path_for_image(image_folder.string() + "/x.jpg");
  return fs::path(probe).parent_path();
}

std::size_t count_nonblank_lines(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::size_t count = 0;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) ++count;
  }
  return count;
}

}  // namespace

bool has_image_extension(const fs::path& path) {
  std::string extension = lower(path.extension().string());
  return std::any_of(std::begin(kImageExtensions), std::end(kImageExtensions),
                     [&](const char* known) { return extension == known; });
}

SplitListing list_split_images(const DataYaml& data, const std::string& split) {
  auto found = data.splits.find(split);
  if (found == data.splits.end()) {
    fail_user("{} has no '{}' split. Its splits: {}.", data.file.string(), split,
              [&] {
                std::string keys;
                for (const auto& [key, source] : data.splits) keys += (keys.empty() ? "" : ", ") + key;
                return keys;
              }());
  }
  SplitListing listing;
  listing.split = split;
  std::set<std::string> seen;
  for (const auto& source : found->second.resolved) {
    if (fs::is_directory(source)) {
      add_folder(source, listing, seen);
    } else {
      add_list_file(source, listing, seen);
    }
  }
  return listing;
}

OrphanLabels find_orphan_labels(const SplitListing& listing) {
  std::set<std::string> expected;
  for (const auto& image : listing.images) expected.insert(label_path_for_image(image));
  OrphanLabels orphans;
  std::set<std::string> visited;
  for (const auto& folder : listing.folders) {
    fs::path labels = labels_folder_for(folder);
    if (labels == folder || !fs::is_directory(labels) || !visited.insert(labels.string()).second) continue;
    for (const auto& file : walk_sorted(labels)) {
      if (file.extension() != ".txt" || expected.count(file.string())) continue;
      ++orphans.count;
      orphans.lines += count_nonblank_lines(file);
      if (orphans.examples.size() < kOrphanExamples) orphans.examples.push_back(file.string());
    }
  }
  return orphans;
}

}  // namespace shrike::data
