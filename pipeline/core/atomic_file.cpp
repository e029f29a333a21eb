// pipeline/core/atomic_file.cpp: temp file, fsync, rename, fsync the folder.
#include "pipeline/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "pipeline/core/error.h"

namespace shrike {

namespace fs = std::filesystem;

fs::path temporary_sibling(const fs::path& path) {
  return path.parent_path() / fmt::format("{}.tmp-{}", path.filename().string(), ::getpid());
}

void fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_user("cannot open {} to sync it: {}", path.string(), errno_text(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems refuse fsync on folders (EINVAL); the rename is still atomic there.
  if (rc != 0 && err != EINVAL) fail_user("cannot sync {}: {}", path.string(), errno_text(err));
}

void rename_durably(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    fail_user("cannot rename {} to {}: {}", from.string(), to.string(), errno_text(errno));
  }
  fs::path parent = to.parent_path().empty() ? fs::path(".") : to.parent_path();
  fsync_path(parent);
}

void write_file_atomically(const fs::path& path, std::string_view content) {
  fs::path temp = temporary_sibling(path);
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fail_user("cannot write {}: {} (check that the folder exists and is writable)",
              path.string(), errno_text(errno));
  }
  std::size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      fail_user("cannot write {}: {}", path.string(), errno_text(err));
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    fail_user("cannot write {}: {}", path.string(), errno_text(err));
  }
  rename_durably(temp, path);
}

}  // namespace shrike
