// dashboard/runs_root.cpp: request names to paths under the runs root (see the header).
#include "dashboard/runs_root.h"

#include <algorithm>
#include <system_error>

#include "pipeline/core/paths.h"
#include "pipeline/train/run_summary.h"

namespace shrike::dashboard {

namespace fs = std::filesystem;

namespace {

// `inner` equals `outer` or lies below it, compared component by component (so that
// /runs-old is not inside /runs). Both are canonical.
bool is_within(const fs::path& inner, const fs::path& outer) {
  auto outer_it = outer.begin();
  auto inner_it = inner.begin();
  for (; outer_it != outer.end(); ++outer_it, ++inner_it) {
    if (inner_it == inner.end() || *inner_it != *outer_it) return false;
  }
  return true;
}

bool is_folder(const fs::path& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

}  // namespace

bool is_plain_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return c == '/' || c == '\\' || byte < 0x20 || byte == 0x7f;
  });
}

RunsRoot::RunsRoot(fs::path root) : root_(absolute_path(root)) {}

bool RunsRoot::exists() const { return is_folder(root_); }

std::optional<fs::path> RunsRoot::canonical_root() const {
  std::error_code error;
  fs::path canonical = fs::canonical(root_, error);
  if (error || !is_folder(canonical)) return std::nullopt;
  return canonical;
}

bool RunsRoot::contains(const fs::path& path) const {
  const auto root = canonical_root();
  if (!root) return false;
  std::error_code error;
  const fs::path resolved = fs::weakly_canonical(path, error);
  return !error && is_within(resolved, *root);
}

Resolved RunsRoot::child(const fs::path& parent, std::string_view name) const {
  if (!is_plain_name(name)) return {Lookup::bad_name, {}};
  const auto root = canonical_root();
  if (!root) return {Lookup::not_found, {}};
  std::error_code error;
  const fs::path resolved = fs::canonical(parent / fs::path(std::string(name)), error);
  if (error) return {Lookup::not_found, {}};
  if (!is_within(resolved, *root)) return {Lookup::outside_root, {}};
  return {Lookup::found, resolved};
}

Resolved RunsRoot::project(std::string_view project) const {
  const auto root = canonical_root();
  if (!root) return {is_plain_name(project) ? Lookup::not_found : Lookup::bad_name, {}};
  Resolved found = child(*root, project);
  if (found.result == Lookup::found && !is_folder(found.path)) return {Lookup::not_found, {}};
  return found;
}

Resolved RunsRoot::run(std::string_view project, std::string_view run) const {
  if (!is_plain_name(run)) return {Lookup::bad_name, {}};
  Resolved project_dir = this->project(project);
  if (project_dir.result != Lookup::found) return project_dir;
  Resolved found = child(project_dir.path, run);
  if (found.result == Lookup::found && !train::is_run_folder(found.path)) return {Lookup::not_found, {}};
  return found;
}

Resolved RunsRoot::file_in_run(const fs::path& run_dir, std::string_view relative) const {
  fs::path folder = run_dir;
  std::string_view name = relative;
  if (relative.starts_with("weights/")) {
    folder = run_dir / "weights";
    name = relative.substr(8);
  }
  Resolved found = child(folder, name);
  std::error_code error;
  if (found.result == Lookup::found && !fs::is_regular_file(found.path, error)) return {Lookup::not_found, {}};
  return found;
}

std::vector<std::string> RunsRoot::project_names() const {
  std::vector<std::string> names;
  const auto root = canonical_root();
  if (!root) return names;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(*root, error)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(".")) continue;  // hidden folders, temporary names
    if (project(name).result == Lookup::found) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> RunsRoot::run_names(const fs::path& project_dir) const {
  std::vector<std::string> names;
  for (const fs::path& dir : train::find_runs(project_dir)) {
    const std::string name = dir.filename().string();
    const Resolved found = child(project_dir, name);
    if (found.result == Lookup::found) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace shrike::dashboard
