// dashboard/runs_root.h
//
// The one place where names that arrive in HTTP requests become paths. `shrike serve`
// exposes only what lies under its runs root (--runs, default ./runs), laid out as
// <root>/<project>/<run>/ (DESIGN.md § Run folder). A request names a project, a run
// and maybe a file as plain path components; each must be a single name (no "/", "\",
// NUL, "." or ".."), and the path it leads to is resolved through every symlink and
// must still lie under the root's own resolved path, so neither "..", "%2e%2e",
// encoded slashes (cpp-httplib decodes them before routing) nor a symlink pointing
// outside can reach another file. Symlinks that stay inside the root are followed.
// The root is resolved at each lookup, so a root created after the server started works.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shrike::dashboard {

// A single path component a request may use: non-empty, at most 255 bytes, not "." or
// "..", without "/", "\", NUL or other control characters.
bool is_plain_name(std::string_view name);

enum class Lookup { found, bad_name, not_found, outside_root };

struct Resolved {
  Lookup result = Lookup::not_found;
  std::filesystem::path path;  // canonical, when found
};

class RunsRoot {
 public:
  explicit RunsRoot(std::filesystem::path root);  // made absolute, not required to exist

  const std::filesystem::path& dir() const { return root_; }
  bool exists() const;

  // <root>/<project>, a folder.
  Resolved project(std::string_view project) const;
  // <root>/<project>/<run>, a run folder (train::is_run_folder).
  Resolved run(std::string_view project, std::string_view run) const;
  // A regular file inside a resolved run folder: `relative` is one plain name, or
  // "weights/<plain name>".
  Resolved file_in_run(const std::filesystem::path& run_dir, std::string_view relative) const;

  // Project folders under the root (plain names whose folder resolves inside the root), sorted.
  std::vector<std::string> project_names() const;
  // Run folder names of a resolved project folder (each resolving inside the root), sorted.
  std::vector<std::string> run_names(const std::filesystem::path& project_dir) const;

  // `path` (any, existing or not) resolves to somewhere under the root.
  bool contains(const std::filesystem::path& path) const;

 private:
  std::optional<std::filesystem::path> canonical_root() const;
  Resolved child(const std::filesystem::path& parent, std::string_view name) const;

  std::filesystem::path root_;
};

}  // namespace shrike::dashboard
