// pipeline/core/progress.cpp: the terminal bar and the plain periodic lines.
#include "pipeline/core/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace shrike {

namespace {
constexpr auto kTerminalRedraw = std::chrono::milliseconds(100);
constexpr auto kPlainLineEvery = std::chrono::seconds(5);
constexpr int kBarWidth = 30;
}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long s = std::lround(seconds);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

bool ProgressBar::is_terminal(std::FILE* stream) { return ::isatty(::fileno(stream)) == 1; }

ProgressBar::ProgressBar(std::string label, std::size_t total, std::string unit, std::FILE* stream)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      stream_(stream),
      terminal_(is_terminal(stream)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() { finish(); }

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::advance(std::size_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  auto now = std::chrono::steady_clock::now();
  auto every = terminal_ ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(kTerminalRedraw)
                         : std::chrono::duration_cast<std::chrono::steady_clock::duration>(kPlainLineEvery);
  std::unique_lock lock(draw_mutex_, std::try_to_lock);
  if (!lock.owns_lock() || finished_ || now - last_draw_ < every) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish() {
  std::lock_guard lock(draw_mutex_);
  if (finished_) return;
  finished_ = true;
  draw(true);
}

void ProgressBar::draw(bool final_line) {
  std::size_t done = std::min(done_.load(std::memory_order_relaxed), total_);
  double elapsed = elapsed_seconds();
  double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : NAN;
  double fraction = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  std::string stats = final_line
                          ? fmt::format("{}/{} {} in {} ({:.1f} {}/s)", done, total_, unit_,
                                        format_duration(elapsed), rate, unit_)
                          : fmt::format("{}/{} {} {:.1f} {}/s ETA {}", done, total_, unit_, rate,
                                        unit_, format_duration(eta));
  if (terminal_) {
    int filled = static_cast<int>(fraction * kBarWidth);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(kBarWidth, '.');
    fmt::print(stream_, "\r{} {:3.0f}% [{}] {}\033[K{}", label_, fraction * 100, bar, stats,
               final_line ? "\n" : "");
  } else {
    fmt::print(stream_, "{} {:3.0f}% {}\n", label_, fraction * 100, stats);
  }
  std::fflush(stream_);
}

}  // namespace shrike
