// pipeline/cli/cmd_monitor.cpp: `shrike monitor RUN_DIR|PROJECT_DIR`: a live terminal
// view of training runs read from their run folders (state, epoch progress, ETA, loss
// and mAP curves, best epoch, system stats), so a run on a cluster node can be watched
// from a login shell with nothing but the shared filesystem. Each tick re-reads only
// what was appended to metrics.jsonl (train::RunWatcher). On a terminal the view is
// redrawn in place (ANSI); otherwise a new snapshot is printed whenever it changes.
#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>
#include <thread>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/core/interrupt.h"
#include "pipeline/train/run_summary.h"

namespace shrike::cli {

namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;
using train::RunSummary;

constexpr int kCurveHeight = 4;  // terminal lines per chart

CommandSpec monitor_spec() {
  CommandSpec spec;
  spec.name = "monitor";
  spec.usage = "shrike monitor RUN_DIR|PROJECT_DIR... [--once] [--interval S] [--follow] [--ascii]";
  spec.description =
      "Follow training runs live from their run folders: state, epoch progress bar, ETA (mean\n"
      "epoch time x epochs left), images/s, the training loss and mAP50-95 curves drawn in the\n"
      "terminal, the best epoch, and system stats when the run records them. A PROJECT_DIR\n"
      "follows every run under it, including runs that start later.\n\n"
      "On a terminal the view is redrawn in place every --interval seconds. When stdout is not\n"
      "a terminal (a pipe, a log file) it keeps following too, printing a new snapshot each\n"
      "time something changed; --once prints one snapshot and exits 0 (for scripts).\n"
      "It exits 0 when every followed run is in a final state (completed, failed, stopped,\n"
      "cancelled; a paused or preempted run may still resume, so it keeps waiting), or with\n"
      "--follow keeps going until Ctrl-C, which exits cleanly with status 0.";
  spec.options.add_options()
      ("runs", po::value<std::vector<std::string>>()->required()->value_name("DIR"),
       "run folders and/or project folders (positional)")
      ("once", po::bool_switch(), "print one snapshot and exit 0")
      ("interval", po::value<double>()->default_value(2.0)->value_name("S"), "seconds between refreshes")
      ("follow", po::bool_switch(), "keep following after every run finished (until Ctrl-C)")
      ("ascii", po::bool_switch(), "draw with ASCII only (default: Unicode blocks on a UTF-8 locale)");
  spec.positional.add("runs", -1);
  spec.epilog =
      "Examples:\n"
      "  shrike monitor runs/detect/exp                 follow one run until it ends\n"
      "  shrike monitor runs/detect                     every run of the project\n"
      "  shrike monitor runs/detect/exp --once          one snapshot (scripts, cron)\n"
      "  shrike monitor runs/detect --follow --interval 10";
  return spec;
}

// ---- drawing --------------------------------------------------------------------------------

struct Style {
  bool unicode = true;
  int width = 100;       // terminal columns
  bool show_age = true;  // "updated 5s ago" (left out when deciding whether a frame changed)
};

bool locale_is_utf8() {
  for (const char* name : {"LC_ALL", "LC_CTYPE", "LANG"}) {
    const char* value = std::getenv(name);
    if (!value || !*value) continue;
    std::string text(value);
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text.find("utf-8") != std::string::npos || text.find("utf8") != std::string::npos;
  }
  return false;
}

int terminal_width(bool tty) {
  winsize size{};
  if (tty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return std::clamp<int>(size.ws_col, 40, 240);
  if (const char* columns = std::getenv("COLUMNS")) return std::clamp(std::atoi(columns), 40, 240);
  return 100;
}

// Columns a UTF-8 string takes (every code point one column; the view uses no wide ones).
std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// `text` cut to `width` columns (at a code point boundary).
std::string cut_to(const std::string& text, std::size_t width) {
  std::size_t columns = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((text[i] & 0xC0) != 0x80 && ++columns > width) return text.substr(0, i);
  }
  return text;
}

std::string pad_to(std::string text, std::size_t width) {
  const std::size_t shown = display_width(text);
  if (shown < width) text.append(width - shown, ' ');
  return text;
}

// One cell of a bar `eighths` (0..8) high.
std::string block(int eighths, const Style& style) {
  static const char* kBlocks[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  if (style.unicode) return kBlocks[std::clamp(eighths, 0, 8)];
  return eighths <= 0 ? " " : eighths < 4 ? "." : eighths < 8 ? "+" : "#";
}

// `values` squeezed into `width` columns (the mean of each bucket; a bucket with no
// value stays empty).
std::vector<std::optional<double>> resample(const std::vector<std::optional<double>>& values, std::size_t width) {
  if (values.size() <= width) return values;
  std::vector<std::optional<double>> columns(width);
  for (std::size_t c = 0; c < width; ++c) {
    double sum = 0;
    int count = 0;
    for (std::size_t i = c * values.size() / width; i < (c + 1) * values.size() / width; ++i) {
      if (values[i]) sum += *values[i], ++count;
    }
    if (count) columns[c] = sum / count;
  }
  return columns;
}

// A bar chart `height` lines high: the top line labelled with the maximum, the bottom
// one with the minimum; the minimum shows as a sliver so that every value is visible.
std::vector<std::string> render_curve(const std::vector<std::optional<double>>& values, std::size_t width,
                                      int height, const Style& style) {
  const auto columns = resample(values, width);
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& value : columns) {
    if (value) lo = std::min(lo, *value), hi = std::max(hi, *value);
  }
  std::vector<std::string> lines;
  if (!(lo <= hi)) {
    lines.push_back(pad_to("          (no values yet)", width + 10));
    while (static_cast<int>(lines.size()) < height) lines.push_back(std::string(width + 10, ' '));
    return lines;
  }
  const int levels = height * 8;
  for (int r = 0; r < height; ++r) {
    std::string label = r == 0 ? fmt::format("{:.4g}", hi) : r == height - 1 ? fmt::format("{:.4g}", lo) : "";
    std::string line = fmt::format("{:>8} {}", label, style.unicode ? "┤" : "|");
    for (const auto& value : columns) {
      if (!value) {
        line += ' ';
        continue;
      }
      const double t = hi > lo ? (*value - lo) / (hi - lo) : 0.5;
      const int level = 1 + static_cast<int>(std::lround(t * (levels - 1)));
      line += block(level - (height - 1 - r) * 8, style);
    }
    lines.push_back(pad_to(line, width + 10));
  }
  return lines;
}

std::string progress_bar(double fraction, int width, const Style& style) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int eighths = static_cast<int>(std::lround(fraction * width * 8));
  std::string bar;
  for (int i = 0; i < width; ++i) {
    const int fill = std::clamp(eighths - i * 8, 0, 8);
    if (!style.unicode) {
      bar += fill >= 8 ? "#" : fill > 0 ? ">" : "-";
    } else {
      static const char* kPartial[] = {"░", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"};
      bar += kPartial[fill];
    }
  }
  return "[" + bar + "]";
}

// ---- one run's block -------------------------------------------------------------------------

std::string header_line(const RunSummary& run, const Style& style, double now_unix) {
  std::string line = fmt::format("{}  {}", run.dir.string(), train::state_text(run));
  if (!run.reason.empty()) line += fmt::format(" ({})", run.reason);
  if (run.last_update_unix && style.show_age) line += fmt::format("  updated {} ago", train::format_duration(now_unix - *run.last_update_unix));
  return line;
}

std::string progress_line(const RunSummary& run, const Style& style) {
  const double into = run.progress && run.progress->batches > 0
                          ? static_cast<double>(run.progress->batch) / run.progress->batches : 0;
  std::string line = run.epochs > 0 ? fmt::format("  epoch {}/{} ", run.epochs_done, run.epochs)
                                    : fmt::format("  epoch {} ", run.epochs_done);
  if (run.epochs > 0) {
    const double fraction = (run.epochs_done + into) / run.epochs;
    line += fmt::format("{} {:3.0f}%", progress_bar(fraction, 24, style), 100 * fraction);
  }
  if (run.progress && !run.finished()) {
    line += fmt::format("  training epoch {} batch {}/{}", run.progress->epoch, run.progress->batch, run.progress->batches);
  }
  line += fmt::format("  elapsed {}", train::format_duration(run.elapsed_seconds));
  if (run.eta_seconds) line += fmt::format("  ETA {}", train::format_duration(*run.eta_seconds));
  if (run.images_per_second && !run.finished()) line += fmt::format("  {:.1f} img/s", *run.images_per_second);
  return line;
}

std::string metrics_text(const train::ResultsRow& row) {
  std::string text = fmt::format("box {:.4f}  cls {:.4f}  dfl {:.4f}", row.train_box_loss, row.train_cls_loss,
                                 row.train_dfl_loss);
  if (row.precision && row.recall) text += fmt::format("  P {:.4f}  R {:.4f}", *row.precision, *row.recall);
  if (row.map50 && row.map50_95) text += fmt::format("  mAP50 {:.4f}  mAP50-95 {:.4f}", *row.map50, *row.map50_95);
  return text;
}

std::vector<std::string> summary_lines(const RunSummary& run) {
  std::vector<std::string> lines;
  if (run.best_epoch) {
    std::string line = fmt::format("  best   epoch {}", *run.best_epoch);
    if (run.best_map50 && run.best_map50_95) {
      line += fmt::format(": mAP50 {:.4f}  mAP50-95 {:.4f}", *run.best_map50, *run.best_map50_95);
    }
    lines.push_back(line);
  }
  if (const train::ResultsRow* last = run.last_row()) {
    lines.push_back(fmt::format("  last   epoch {}: {}", last->epoch, metrics_text(*last)));
  }
  if (!run.system.empty()) {
    std::string line = "  system";
    for (const auto& [key, value] : run.system.items()) {
      line += value.is_number() ? fmt::format("  {} {:.4g}", key, value.get<double>()) : fmt::format("  {} {}", key, value.dump());
    }
    lines.push_back(line);
  }
  for (const std::string& note : run.notes) lines.push_back("  note   " + note);
  return lines;
}

// The loss and mAP50-95 charts, side by side when the terminal is wide enough.
std::vector<std::string> curve_lines(const RunSummary& run, const Style& style) {
  std::vector<std::optional<double>> loss, map;
  for (const auto& row : run.rows) {
    loss.push_back(row.train_box_loss + row.train_cls_loss + row.train_dfl_loss);
    map.push_back(row.map50_95);
  }
  const bool side_by_side = style.width >= 80;
  const std::size_t width = static_cast<std::size_t>(side_by_side ? (style.width - 4) / 2 - 12 : style.width - 14);
  auto loss_chart = render_curve(loss, width, kCurveHeight, style);
  auto map_chart = render_curve(map, width, kCurveHeight, style);
  const std::string loss_title = pad_to("  train loss (box+cls+dfl) per epoch", width + 12);
  const std::string map_title = "  mAP50-95 per epoch";
  std::vector<std::string> lines;
  if (side_by_side) {
    lines.push_back(loss_title + map_title);
    for (int r = 0; r < kCurveHeight; ++r) lines.push_back("  " + loss_chart[r] + "  " + map_chart[r]);
  } else {
    lines.push_back(loss_title);
    for (const auto& line : loss_chart) lines.push_back("  " + line);
    lines.push_back(map_title);
    for (const auto& line : map_chart) lines.push_back("  " + line);
  }
  return lines;
}

std::string render_run(const RunSummary& run, const Style& style, double now_unix) {
  std::vector<std::string> lines = {header_line(run, style, now_unix), progress_line(run, style)};
  for (auto& line : summary_lines(run)) lines.push_back(std::move(line));
  for (auto& line : curve_lines(run, style)) lines.push_back(std::move(line));
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// ---- following -----------------------------------------------------------------------------

// The runs to follow: the folders given, plus runs that appear later in a project folder.
class RunSet {
 public:
  explicit RunSet(std::vector<std::string> paths) : paths_(std::move(paths)) {
    for (const fs::path& dir : train::resolve_run_dirs(paths_)) add(dir);  // errors for non-runs
  }
  void refresh() {
    for (const std::string& path : paths_) {
      if (!train::is_run_folder(path)) {
        for (const fs::path& dir : train::find_runs(path)) add(dir);
      }
    }
    for (auto& [dir, watcher] : watchers_) watcher.refresh();
  }
  bool all_finished() const {
    return std::all_of(watchers_.begin(), watchers_.end(), [](const auto& item) { return item.second.summary().finished(); });
  }
  std::string render(const Style& style) const {
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string text;
    for (const auto& [dir, watcher] : watchers_) text += (text.empty() ? "" : "\n") + render_run(watcher.summary(), style, now);
    return text;
  }

 private:
  void add(const fs::path& dir) { watchers_.try_emplace(dir.lexically_normal(), dir); }
  std::vector<std::string> paths_;
  std::map<fs::path, train::RunWatcher> watchers_;
};

std::string clock_text() {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  return fmt::format("{:02}:{:02}:{:02}", local.tm_hour, local.tm_min, local.tm_sec);
}

int terminal_height() {
  winsize size{};
  return ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 2 ? size.ws_row : 1000;
}

// Redraws in place: cursor home, each line cleared to its end, the rest of the screen
// cleared. Lines past the screen's size are cut (wrapping or scrolling would break the redraw).
void draw_in_place(const std::string& frame, int width) {
  std::string out = "\x1b[H";
  const long lines = std::count(frame.begin(), frame.end(), '\n');
  const long room = terminal_height() - 1;  // the cursor ends on the line after the frame
  long shown = 0;
  std::size_t begin = 0;
  for (std::size_t end; (end = frame.find('\n', begin)) != std::string::npos; begin = end + 1) {
    if (lines > room && ++shown >= room) {
      out += "... (more runs below: enlarge the terminal, or give fewer runs)\x1b[K\n";
      break;
    }
    out += cut_to(frame.substr(begin, end - begin), static_cast<std::size_t>(width)) + "\x1b[K\n";
  }
  fmt::print("{}\x1b[J", out);
  std::fflush(stdout);
}

// Sleeps `seconds` in short slices; false when Ctrl-C (or SIGTERM) arrived.
bool sleep_unless_interrupted(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (interrupt_requested()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return !interrupt_requested();
}

int follow(RunSet& runs, const Style& style, double interval, bool keep_following) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  if (tty) fmt::print("\x1b[?25l\x1b[2J");  // hide the cursor, clear once
  std::string previous;
  bool interrupted = false;
  for (;;) {
    runs.refresh();
    const bool done = !keep_following && runs.all_finished();
    const std::string frame = runs.render(style);
    Style ageless = style;
    ageless.show_age = false;
    const std::string content = runs.render(ageless);  // what changed, leaving the clock out
    if (tty) {
      draw_in_place(fmt::format("shrike monitor  {}  every {}s, Ctrl-C to quit\n\n{}", clock_text(), interval, frame),
                    style.width);
    } else if (content != previous) {
      fmt::print("{}{}", previous.empty() ? "" : "\n", frame);
      std::fflush(stdout);
    }
    previous = content;
    if (done) break;
    if (!sleep_unless_interrupted(interval)) {
      interrupted = true;
      break;
    }
  }
  if (tty) fmt::print("\x1b[?25h");
  std::fflush(stdout);
  if (interrupted) clear_interrupt();  // Ctrl-C is how a follower is meant to end: exit 0
  return kExitOk;
}

}  // namespace

int run_monitor(const Args& args) {
  CommandSpec spec = monitor_spec();
  auto values = parse_options(spec, args);
  if (!values) return kExitOk;
  const po::variables_map& v = *values;
  const double interval = v["interval"].as<double>();
  if (!(interval > 0)) fail_user("shrike monitor: --interval must be a positive number of seconds, not {}", interval);
  RunSet runs(v["runs"].as<std::vector<std::string>>());
  Style style;
  style.unicode = !v["ascii"].as<bool>() && locale_is_utf8();
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  style.width = terminal_width(tty);
  if (v["once"].as<bool>()) {
    runs.refresh();
    fmt::print("{}", runs.render(style));
    return kExitOk;
  }
  return follow(runs, style, interval, v["follow"].as<bool>());
}

}  // namespace shrike::cli
