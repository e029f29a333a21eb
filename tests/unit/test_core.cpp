// tests/unit/test_core.cpp: atomic files, SHA-256, ordered parallel work, file locks,
// durations (pipeline/core).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/core/file_lock.h"
#include "pipeline/core/ordered_parallel.h"
#include "pipeline/core/progress.h"
#include "pipeline/core/sha256.h"
#include "tests/unit/test_support.h"

namespace shrike {
namespace {

namespace fs = std::filesystem;

TEST(AtomicFile, ReplacesContentAndLeavesNoTemporary) {
  test::TempDir dir;
  write_file_atomically(dir / "a.json", "first");
  write_file_atomically(dir / "a.json", "second");
  EXPECT_EQ(test::read_text(dir / "a.json"), "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(AtomicFile, MissingFolderIsAUserErrorNamingThePath) {
  test::TempDir dir;
  try {
    write_file_atomically(dir / "no/such/folder/a.json", "x");
    FAIL() << "expected UserError";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("no/such/folder/a.json"), std::string::npos) << error.what();
  }
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  test::TempDir dir;
  test::write_text(dir / "f", "abc");
  EXPECT_EQ(sha256_file_hex(dir / "f"), sha256_hex("abc"));
}

TEST(OrderedParallel, ConsumesInInputOrderWithManyThreads) {
  std::vector<std::size_t> consumed;
  run_ordered_parallel(
      500, 4, 8,
      [](std::size_t i) {
        if (i % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
        return i * i;
      },
      [&](std::size_t i, std::size_t value) {
        EXPECT_EQ(value, i * i);
        consumed.push_back(i);
      });
  ASSERT_EQ(consumed.size(), 500u);
  for (std::size_t i = 0; i < consumed.size(); ++i) EXPECT_EQ(consumed[i], i);
}

TEST(OrderedParallel, ProducerExceptionReachesTheCaller) {
  std::atomic<int> produced{0};
  EXPECT_THROW(run_ordered_parallel(
                   1000, 2, 4,
                   [&](std::size_t i) {
                     ++produced;
                     if (i == 10) throw std::runtime_error("boom");
                     return i;
                   },
                   [](std::size_t, std::size_t) {}),
               std::runtime_error);
  EXPECT_LT(produced.load(), 1000);  // the workers stopped early
}

TEST(OrderedParallel, ConsumerExceptionStopsTheWorkers) {
  EXPECT_THROW(run_ordered_parallel(
                   100, 2, 4, [](std::size_t i) { return i; },
                   [](std::size_t i, std::size_t) {
                     if (i == 3) throw UserError("stop");
                   }),
               UserError);
}

TEST(FileLock, SecondHolderWaitsUntilTheFirstReleases) {
  test::TempDir dir;
  fs::path lock_path = dir / "cache.lock";
  std::atomic<bool> second_waited{false};
  std::atomic<bool> second_has_lock{false};
  auto first = std::make_unique<FileLock>(lock_path);
  std::thread other([&] {
    FileLock second(lock_path, [&] { second_waited = true; });
    second_has_lock = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(second_has_lock.load());
  first.reset();
  other.join();
  EXPECT_TRUE(second_waited.load());
  EXPECT_TRUE(second_has_lock.load());
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(format_duration(12.4), "12s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  EXPECT_EQ(format_duration(-1), "?");
}

}  // namespace
}  // namespace shrike
