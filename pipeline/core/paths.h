// pipeline/core/paths.h
//
// Paths as users type them ("shards/", "./data/../d") made canonical in one place:
// absolute, normalised, without a trailing separator, so that parent_path() and
// filename() mean what callers expect.
#pragma once

#include <filesystem>

namespace shrike {

// `base / path` (or `path` if absolute), normalised, no trailing separator.
inline std::filesystem::path resolve_path(const std::filesystem::path& base, const std::filesystem::path& path) {
  std::filesystem::path resolved = (path.is_absolute() ? path : base / path).lexically_normal();
  if (!resolved.has_filename() && resolved.has_parent_path() && resolved != resolved.root_path()) {
    resolved = resolved.parent_path();
  }
  return resolved;
}

// `path` made absolute against the current folder, normalised, no trailing separator.
inline std::filesystem::path absolute_path(const std::filesystem::path& path) {
  return resolve_path(std::filesystem::current_path(), path);
}

}  // namespace shrike
