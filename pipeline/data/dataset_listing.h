// pipeline/data/dataset_listing.h
//
// The images of one split, found the way the reference finds them: folders searched
// recursively for image extensions (sorted, so the order never depends on the file
// system), `.txt` lists read line by line (relative lines against the list's folder).
// Also counts what is ignored so the summary can say so: files with other extensions
// in image folders, duplicate entries, and label files that have no image.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/data/data_yaml.h"

namespace shrike::data {

struct ListedProblem {
  std::string where;    // "list.txt:12"
  std::string message;  // "listed image missing: /data/x.jpg"
};

struct SplitListing {
  std::string split;
  std::vector<std::string> images;              // absolute paths, in a fixed order
  std::vector<std::filesystem::path> folders;   // folder sources (for orphan labels)
  std::size_t non_image_files = 0;              // ignored: not an image extension
  std::size_t duplicate_entries = 0;            // ignored: the same image listed twice
  std::vector<ListedProblem> missing;           // list entries that do not exist
};

// Extensions the reference treats as images (lower case, with the dot). Files with
// these extensions that are not JPEG or PNG are reported as unsupported, not ignored.
bool has_image_extension(const std::filesystem::path& path);

SplitListing list_split_images(const DataYaml& data, const std::string& split);

struct OrphanLabels {
  std::size_t count = 0;
  std::size_t lines = 0;                 // non-blank lines in them
  std::vector<std::string> examples;     // a few paths, for the summary
};

// Label files under the labels folders of `listing`'s image folders that belong to no
// listed image (they are ignored, as the reference ignores them).
OrphanLabels find_orphan_labels(const SplitListing& listing);

}  // namespace shrike::data
