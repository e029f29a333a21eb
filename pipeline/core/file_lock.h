// pipeline/core/file_lock.h
//
// An exclusive advisory lock on a lock file (flock), held for the object's lifetime,
// so that two processes (two ranks, two jobs) never build the same cache at once.
// flock locks are released by the kernel when the process dies: no stale locks.
#pragma once

#include <filesystem>

namespace shrike {

class FileLock {
 public:
  // Blocks until the lock on `path` (created if missing) is held. If another process
  // holds it, `on_wait` is called once before blocking (to tell the user why we wait).
  template <typename OnWait>
  FileLock(const std::filesystem::path& path, OnWait on_wait) : path_(path) {
    open_lock_file();
    if (!try_lock()) {
      on_wait();
      lock_blocking();
    }
  }
  explicit FileLock(const std::filesystem::path& path) : FileLock(path, [] {}) {}
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  void open_lock_file();
  bool try_lock();
  void lock_blocking();

  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace shrike
