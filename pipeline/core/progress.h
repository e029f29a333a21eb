// pipeline/core/progress.h
//
// Progress for long commands (shard, synth, later train): on a terminal a redrawn bar
// with count, rate and ETA; otherwise (logs, Slurm output files) a plain line every
// few seconds, so a log is never flooded with carriage returns. Writes to stderr.
// Thread-safe: workers call advance() concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace shrike {

class ProgressBar {
 public:
  // `label` prefixes every line ("shard train"); `total` items are expected; `unit`
  // names them in the rate ("img").
  ProgressBar(std::string label, std::size_t total, std::string unit = "img",
              std::FILE* stream = stderr);
  ~ProgressBar();

  void advance(std::size_t n = 1);
  // Prints the final line (count, elapsed, mean rate). Idempotent.
  void finish();

  double elapsed_seconds() const;

  // Whether `stream` is a terminal; the bar is redrawn only then.
  static bool is_terminal(std::FILE* stream);

 private:
  void draw(bool final_line);

  std::string label_;
  std::size_t total_;
  std::string unit_;
  std::FILE* stream_;
  bool terminal_;
  std::atomic<std::size_t> done_{0};
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::mutex draw_mutex_;
  bool finished_ = false;
};

// "1h02m", "3m05s", "12s"
std::string format_duration(double seconds);

}  // namespace shrike
