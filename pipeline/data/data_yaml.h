// pipeline/data/data_yaml.h
//
// The dataset description users already have (Ultralytics data.yaml): `path` (the
// root; relative to the YAML file's folder, default that folder), `train`/`val`/`test`
// (each a folder, a `.txt` list of image paths, or a list of those), `names` (a list or
// a map {0: name, ...}) and an optional `nc` that must agree with names. Other keys
// (download, license...) are ignored. Every error names the file, the line and the key.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace shrike::data {

struct SplitSource {
  std::vector<std::string> entries;               // as written in the YAML
  std::vector<std::filesystem::path> resolved;    // each entry made absolute
  int line = 0;                                   // 1-based line of the key
};

struct DataYaml {
  std::filesystem::path file;            // absolute path of data.yaml
  std::filesystem::path root;            // resolved `path`
  std::vector<std::string> names;        // class names, index = class id
  std::map<std::string, SplitSource> splits;  // "train", "val", "test" when present
};

// Reads and checks `file`. Throws UserError (exit 1) with file, line and key.
DataYaml load_data_yaml(const std::filesystem::path& file);

}  // namespace shrike::data
