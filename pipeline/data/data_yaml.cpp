// pipeline/data/data_yaml.cpp: parsing and checking data.yaml with yaml-cpp.
#include "pipeline/data/data_yaml.h"

#include <yaml-cpp/yaml.h>

#include <fmt/core.h>

#include "pipeline/core/error.h"
#include "pipeline/core/paths.h"

namespace shrike::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSplitKeys[] = {"train", "val", "test"};

int line_of(const YAML::Node& node) { return node.Mark().line + 1; }

std::string where(const fs::path& file, const YAML::Node& node) {
  return fmt::format("{} line {}", file.string(), line_of(node));
}

YAML::Node parse_yaml_file(const fs::path& file) {
  if (!fs::exists(file)) {
    fail_user("{} does not exist. Pass the path of your dataset's data.yaml (for example "
              "datasets/coco128/coco128.yaml).", file.string());
  }
  try {
    YAML::Node root = YAML::LoadFile(file.string());
    if (!root.IsMap()) {
      fail_user("{}: expected a YAML mapping with keys path, train, val, names; found {}.",
                file.string(), root.IsNull() ? "an empty file" : "something else");
    }
    return root;
  } catch (const YAML::ParserException& error) {
    fail_user("{} line {}: not valid YAML ({}). Fix the syntax.", file.string(), error.mark.line + 1,
              error.msg);
  } catch (const YAML::BadFile&) {
    fail_user("cannot read {}: check its permissions.", file.string());
  }
}

std::string scalar_string(const YAML::Node& node, const fs::path& file, const char* key) {
  if (!node.IsScalar()) {
    fail_user("{}: '{}' must be a path string.", where(file, node), key);
  }
  return node.as<std::string>();
}

fs::path resolve_root(const YAML::Node& root, const fs::path& file) {
  fs::path folder = file.parent_path();
  if (!root["path"] || root["path"].IsNull()) return folder;
  fs::path path = scalar_string(root["path"], file, "path");
  fs::path resolved = resolve_path(folder, path);
  if (!fs::is_directory(resolved)) {
    fail_user("{}: 'path' points to {}, which is not a folder (relative paths are resolved "
              "against the folder of {}). Fix the 'path:' key.",
              where(file, root["path"]), resolved.string(), file.filename().string());
  }
  return resolved;
}

SplitSource read_split(const YAML::Node& node, const char* key, const fs::path& root_dir,
                       const fs::path& file) {
  SplitSource split;
  split.line = line_of(node);
  if (node.IsScalar()) {
    split.entries.push_back(node.as<std::string>());
  } else if (node.IsSequence() && node.size() > 0) {
    for (const auto& item : node) split.entries.push_back(scalar_string(item, file, key));
  } else {
    fail_user("{}: '{}' must be a folder, a .txt list of images, or a list of those.",
              where(file, node), key);
  }
  for (const auto& entry : split.entries) {
    fs::path path = entry;
    fs::path resolved = resolve_path(root_dir, path);
    if (!fs::exists(resolved)) {
      fail_user("{}: '{}' points to {}, which does not exist (resolved against {}). Fix the path "
                "or the 'path:' key.",
                where(file, node), key, entry, root_dir.string());
    }
    if (!fs::is_directory(resolved) && resolved.extension() != ".txt") {
      fail_user("{}: '{}' points to {}, which is neither a folder nor a .txt list of images.",
                where(file, node), key, resolved.string());
    }
    split.resolved.push_back(resolved);
  }
  return split;
}

std::vector<std::string> read_names(const YAML::Node& root, const fs::path& file) {
  YAML::Node node = root["names"];
  if (!node) {
    fail_user("{}: the 'names' key is missing. Add the class names, e.g.\n  names:\n    0: person\n    "
              "1: car", file.string());
  }
  std::vector<std::string> names;
  if (node.IsSequence()) {
    for (const auto& item : node) names.push_back(item.as<std::string>());
  } else if (node.IsMap()) {
    std::map<long, std::pair<std::string, int>> by_id;
    for (const auto& item : node) {
      long id = -1;
      try {
        id = item.first.as<long>();
      } catch (const YAML::Exception&) {
        fail_user("{}: 'names' key '{}' is not a class number; use 0: name, 1: name, ...",
                  where(file, item.first), item.first.as<std::string>());
      }
      by_id[id] = {item.second.as<std::string>(), line_of(item.first)};
    }
    long expected = 0;
    for (const auto& [id, entry] : by_id) {
      if (id != expected) {
        fail_user("{} line {}: 'names' has class {} where {} was expected; class ids must be "
                  "0, 1, 2, ... without gaps.", file.string(), entry.second, id, expected);
      }
      names.push_back(entry.first);
      ++expected;
    }
  } else {
    fail_user("{}: 'names' must be a list or a map of class names.", where(file, node));
  }
  if (names.empty()) fail_user("{}: 'names' is empty; list at least one class.", where(file, node));
  return names;
}

}  // namespace

DataYaml load_data_yaml(const fs::path& file_in) {
  DataYaml data;
  data.file = absolute_path(file_in);
  YAML::Node root = parse_yaml_file(data.file);
  try {
    data.root = resolve_root(root, data.file);
    data.names = read_names(root, data.file);
    if (root["nc"] && root["nc"].as<std::size_t>() != data.names.size()) {
      fail_user("{}: 'nc' is {} but 'names' lists {} classes. Remove 'nc' or make them agree.",
                where(data.file, root["nc"]), root["nc"].as<std::string>(), data.names.size());
    }
    for (const char* key : kSplitKeys) {
      if (root[key] && !root[key].IsNull()) data.splits[key] = read_split(root[key], key, data.root, data.file);
    }
  } catch (const YAML::Exception& error) {
    fail_user("{} line {}: {}", data.file.string(), error.mark.line + 1, error.msg);
  }
  if (data.splits.empty()) {
    fail_user("{}: no 'train', 'val' or 'test' key. Add at least `train: images/train`.",
              data.file.string());
  }
  return data;
}

}  // namespace shrike::data
