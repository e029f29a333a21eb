// pipeline/train/train_console.cpp: the iteration line, bar and plain-line fallback.
#include "pipeline/train/train_console.h"

#include <fmt/core.h>
#include <unistd.h>

#include <fstream>

#include "pipeline/core/progress.h"

namespace shrike::train {

namespace {
constexpr auto kTerminalRedraw = std::chrono::milliseconds(200);
constexpr auto kPlainEvery = std::chrono::seconds(10);
}  // namespace

TrainConsole::TrainConsole(std::FILE* stream) : stream_(stream), terminal_(ProgressBar::is_terminal(stream)) {}

std::string TrainConsole::header() {
  return fmt::format("{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}{:>11}", "Epoch", "CPU_mem", "box_loss", "cls_loss",
                     "dfl_loss", "Instances", "Size");
}

double TrainConsole::resident_gb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1e9;
}

void TrainConsole::progress(int epoch, int epochs, std::size_t batch, std::size_t batches, const double losses[3],
                            std::size_t instances, int imgsz, double images_per_second) {
  if (silent_) return;
  const auto now = std::chrono::steady_clock::now();
  const double fraction = batches > 0 ? static_cast<double>(batch) / static_cast<double>(batches) : 1.0;
  std::string bar(static_cast<std::size_t>(fraction * 20), '#');
  bar.resize(20, '.');
  last_ = fmt::format("{:>11}{:>11}{:>11.4g}{:>11.4g}{:>11.4g}{:>11}{:>11}: {:3.0f}% [{}] {}/{} {:.1f} img/s",
                      fmt::format("{}/{}", epoch + 1, epochs), fmt::format("{:.2g}G", resident_gb()), losses[0],
                      losses[1], losses[2], instances, imgsz, fraction * 100, bar, batch, batches, images_per_second);
  const auto every = terminal_ ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(kTerminalRedraw)
                               : std::chrono::duration_cast<std::chrono::steady_clock::duration>(kPlainEvery);
  if (batch < batches && now - last_draw_ < every) return;
  last_draw_ = now;
  if (terminal_) {
    fmt::print(stream_, "\r{}\033[K", last_);
    drawn_ = true;
  } else if (batch < batches) {
    fmt::print(stream_, "{}\n", last_);
  }
  if (batch < batches && !terminal_) log(last_);
  std::fflush(stream_);
}

void TrainConsole::end_epoch() {
  if (silent_) return;
  if (terminal_) {
    if (drawn_) fmt::print(stream_, "\r{}\033[K\n", last_);
  } else if (!last_.empty()) {
    fmt::print(stream_, "{}\n", last_);
  }
  if (!last_.empty()) log(last_);
  drawn_ = false;
  std::fflush(stream_);
}

void TrainConsole::line(const std::string& text) {
  if (silent_) return;
  if (drawn_) {
    fmt::print(stream_, "\n");
    drawn_ = false;
  }
  fmt::print(stream_, "{}\n", text);
  std::fflush(stream_);
  log(text);
}

void TrainConsole::log(const std::string& text) {
  if (log_sink_) {
    log_sink_(text);
  } else {
    unlogged_.push_back(text);
  }
}

void TrainConsole::set_log_sink(std::function<void(std::string_view)> sink) {
  log_sink_ = std::move(sink);
  for (const std::string& text : unlogged_) log_sink_(text);
  unlogged_.clear();
}

}  // namespace shrike::train
