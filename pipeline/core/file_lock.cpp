// pipeline/core/file_lock.cpp: flock(2) on a lock file.
#include "pipeline/core/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "pipeline/core/error.h"

namespace shrike {

void FileLock::open_lock_file() {
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    fail_user("cannot create the lock file {}: {} (is the folder writable?)", path_.string(),
              errno_text(errno));
  }
}

bool FileLock::try_lock() {
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return true;
  if (errno == EWOULDBLOCK) return false;
  fail_user("cannot lock {}: {} (on NFS/Lustre, put the cache on a file system with "
            "working locks)", path_.string(), errno_text(errno));
}

void FileLock::lock_blocking() {
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) fail_user("cannot lock {}: {}", path_.string(), errno_text(errno));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
}

}  // namespace shrike
