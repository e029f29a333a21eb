// pipeline/core/atomic_file.h
//
// Replacing a file so that a crash at any instant leaves either the old content or the
// new, never a torn file: write to a temporary name in the same folder, fsync it,
// rename over the final name, fsync the folder. Run folders, manifests and
// checkpoints are written this way (DESIGN.md § Run folder).
#pragma once

#include <filesystem>
#include <string_view>

namespace shrike {

// Writes `content` to `path` atomically. Throws UserError naming the path on failure.
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

// A temporary sibling name for `path` unique to this process: "<name>.tmp-<pid>".
std::filesystem::path temporary_sibling(const std::filesystem::path& path);

// fsyncs the file or folder at `path` (folders: so that a rename inside is durable).
void fsync_path(const std::filesystem::path& path);

// Renames `from` to `to` (same file system) and fsyncs the parent folder of `to`.
void rename_durably(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace shrike
