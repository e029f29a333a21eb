// pipeline/train/run_summary.cpp: a run folder read back into a RunSummary, following
// metrics.jsonl incrementally (see run_summary.h).
#include "pipeline/train/run_summary.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "pipeline/core/error.h"

namespace shrike::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::optional<std::string> read_file_if_present(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<double> optional_number(const json& record, const char* key) {
  auto found = record.find(key);
  if (found == record.end() || !found->is_number()) return std::nullopt;
  return found->get<double>();
}

double number_or_zero(const json& record, const char* key) { return optional_number(record, key).value_or(0); }

ResultsRow row_from_epoch_record(const json& record) {
  ResultsRow row;
  row.epoch = static_cast<int>(number_or_zero(record, "epoch"));
  row.time = number_or_zero(record, "time");
  row.train_box_loss = number_or_zero(record, "box_loss");
  row.train_cls_loss = number_or_zero(record, "cls_loss");
  row.train_dfl_loss = number_or_zero(record, "dfl_loss");
  row.precision = optional_number(record, "precision");
  row.recall = optional_number(record, "recall");
  row.map50 = optional_number(record, "mAP50");
  row.map50_95 = optional_number(record, "mAP50-95");
  row.val_box_loss = optional_number(record, "val_box_loss");
  row.val_cls_loss = optional_number(record, "val_cls_loss");
  row.val_dfl_loss = optional_number(record, "val_dfl_loss");
  auto lr = record.find("lr");
  if (lr != record.end() && lr->is_array() && lr->size() == 3) {
    row.lr_pg0 = (*lr)[0].get<double>();
    row.lr_pg1 = (*lr)[1].get<double>();
    row.lr_pg2 = (*lr)[2].get<double>();
  }
  return row;
}

// The trainer's choice of best.h5 when the records do not say it: the highest fitness
// (0.1 mAP50 + 0.9 mAP50-95) among validated epochs, the later one on a tie; the
// lowest training loss when no epoch validated.
std::optional<int> best_epoch_of(const std::vector<ResultsRow>& rows) {
  std::optional<int> best;
  double best_score = -INFINITY;
  bool any_validated = std::any_of(rows.begin(), rows.end(), [](const ResultsRow& r) { return r.map50_95.has_value(); });
  for (const ResultsRow& row : rows) {
    if (any_validated && !row.map50_95) continue;
    const double score = any_validated ? 0.1 * row.map50.value_or(0) + 0.9 * *row.map50_95
                                       : -(row.train_box_loss + row.train_cls_loss + row.train_dfl_loss);
    if (score >= best_score) {
      best_score = score;
      best = row.epoch;
    }
  }
  return best;
}

// Training wall time from usage.json's segments; a running run's last segment is
// extended to the newest metrics record (its end only moves at checkpoints).
std::optional<double> usage_seconds(const fs::path& dir, bool running, std::optional<double> last_update_unix) {
  if (!fs::exists(dir / "usage.json")) return std::nullopt;
  UsageRecord usage = read_usage_json(dir / "usage.json");
  double total = 0;
  for (std::size_t i = 0; i < usage.segments.size(); ++i) {
    const UsageSegment& segment = usage.segments[i];
    double end = std::chrono::duration<double>(segment.end.time_since_epoch()).count();
    const double start = std::chrono::duration<double>(segment.start.time_since_epoch()).count();
    if (running && i + 1 == usage.segments.size() && last_update_unix) end = std::max(end, *last_update_unix);
    total += std::max(0.0, end - start);
  }
  return total;
}

}  // namespace

// ---- MetricsFollower ----------------------------------------------------------------

MetricsFollower::Poll MetricsFollower::poll() {
  Poll result;
  std::error_code error;
  const std::uint64_t size = fs::file_size(path_, error);
  if (error || size < offset_) {  // gone, or replaced by a shorter file: start over
    result.restarted = offset_ > 0;
    offset_ = 0;
    if (error) return result;
  }
  if (size == offset_) return result;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return result;
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string bytes(size - offset_, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  std::size_t begin = 0;
  for (std::size_t end; (end = bytes.find('\n', begin)) != std::string::npos; begin = end + 1) {
    std::string_view line(bytes.data() + begin, end - begin);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_object()) {
      result.records.push_back(std::move(record));
    } else {
      ++skipped_lines_;
    }
  }
  offset_ += begin;  // an unterminated tail stays unread until its newline arrives
  return result;
}

// ---- RunSummary -------------------------------------------------------------------------

const ResultsRow* RunSummary::row_for_epoch(int epoch) const {
  for (const ResultsRow& row : rows) {
    if (row.epoch == epoch) return &row;
  }
  return nullptr;
}

std::optional<double> RunSummary::final_map50_95() const { return rows.empty() ? std::nullopt : rows.back().map50_95; }

bool RunSummary::finished() const {
  return state == RunState::kCompleted || state == RunState::kFailed || state == RunState::kStopped ||
         state == RunState::kCancelled;
}

std::string state_text(const RunSummary& summary) {
  return summary.state ? std::string(run_state_name(*summary.state)) : std::string("unknown");
}

// ---- RunWatcher ---------------------------------------------------------------------------

RunWatcher::RunWatcher(fs::path dir) : metrics_(dir / "metrics.jsonl") {
  summary_.dir = dir;
  summary_.name = dir.filename().string();
  summary_.project = dir.parent_path().filename().string();
}

void RunWatcher::read_status() {
  if (!fs::exists(summary_.dir / "status.json")) return;
  try {
    RunStatus status = read_run_status(summary_.dir);
    summary_.state = status.state;
    summary_.reason = status.reason;
    summary_.status_time = status.time;
  } catch (const UserError& error) {
    summary_.notes.push_back(error.what());
  }
}

void RunWatcher::read_config() {
  if (config_read_) return;
  std::optional<std::string> text = read_file_if_present(summary_.dir / "config.yaml");
  if (!text) return;
  config_read_ = true;  // written atomically: once it is there, it is whole
  try {
    summary_.experiment = Experiment::from_yaml_text(*text, (summary_.dir / "config.yaml").string());
  } catch (const UserError& error) {
    summary_.notes.push_back(error.what());
  }
}

void RunWatcher::apply_epoch_record(const json& record) {
  ResultsRow row = row_from_epoch_record(record);
  // A resume from an older checkpoint replays epochs: later rows are stale.
  while (!summary_.rows.empty() && summary_.rows.back().epoch >= row.epoch) {
    summary_.rows.pop_back();
    recorded_best_.pop_back();
  }
  summary_.rows.push_back(row);
  auto best = optional_number(record, "best_epoch");
  recorded_best_.push_back(best ? std::optional<int>(static_cast<int>(*best)) : std::nullopt);
  if (auto epochs = optional_number(record, "epochs")) summary_.epochs = static_cast<int>(*epochs);
  if (summary_.progress && summary_.progress->epoch <= row.epoch) summary_.progress.reset();
}

void RunWatcher::apply_record(const json& record) {
  if (auto wall = optional_number(record, "wall_time")) {
    summary_.last_update_unix = std::max(summary_.last_update_unix.value_or(*wall), *wall);
    first_update_unix_ = std::min(first_update_unix_.value_or(*wall), *wall);
  }
  const std::string type = record.value("type", "");
  if (type == "epoch") {
    apply_epoch_record(record);
  } else if (type == "train") {
    TrainProgress progress;
    progress.epoch = static_cast<int>(number_or_zero(record, "epoch"));
    progress.batch = static_cast<int>(number_or_zero(record, "batch"));
    progress.batches = static_cast<int>(number_or_zero(record, "batches"));
    progress.images_per_second = number_or_zero(record, "images_per_second");
    progress.box_loss = number_or_zero(record, "box_loss");
    progress.cls_loss = number_or_zero(record, "cls_loss");
    progress.dfl_loss = number_or_zero(record, "dfl_loss");
    summary_.progress = progress;
    summary_.images_per_second = progress.images_per_second;
  } else if (type == "system") {
    summary_.system = record;
    summary_.system.erase("type");
    summary_.system.erase("wall_time");
  } else if (type == "event" && (record.value("event", "") == "start" || record.value("event", "") == "resume")) {
    const int epoch = record.value("event", "") == "start" ? 0 : static_cast<int>(number_or_zero(record, "epoch"));
    while (!summary_.rows.empty() && summary_.rows.back().epoch > epoch) {
      summary_.rows.pop_back();
      recorded_best_.pop_back();
    }
    summary_.progress.reset();
  }
}

void RunWatcher::finish_derived_fields() {
  RunSummary& s = summary_;
  s.epochs_done = s.rows.empty() ? 0 : s.rows.back().epoch;
  if (s.epochs == 0 && s.experiment) s.epochs = s.experiment->integer("epochs");
  s.best_epoch = !recorded_best_.empty() && recorded_best_.back() ? recorded_best_.back() : best_epoch_of(s.rows);
  const ResultsRow* best = s.best_epoch ? s.row_for_epoch(*s.best_epoch) : nullptr;
  s.best_map50 = best ? best->map50 : std::nullopt;
  s.best_map50_95 = best ? best->map50_95 : std::nullopt;

  std::optional<double> usage;
  try {
    usage = usage_seconds(s.dir, s.state == RunState::kRunning, s.last_update_unix);
  } catch (const UserError& error) {
    s.notes.push_back(error.what());
  }
  const double from_rows = s.rows.empty() ? 0 : s.rows.back().time;
  const double from_records = s.last_update_unix ? *s.last_update_unix - *first_update_unix_ : 0;
  s.elapsed_seconds = std::max(usage.value_or(from_records), from_rows);

  s.eta_seconds.reset();
  if (!s.finished() && s.epochs_done > 0 && s.epochs > s.epochs_done && from_rows > 0) {
    const double mean_epoch = from_rows / s.epochs_done;
    const double into_epoch =
        s.progress && s.progress->batches > 0 ? static_cast<double>(s.progress->batch) / s.progress->batches : 0;
    s.eta_seconds = std::max(0.0, mean_epoch * (s.epochs - s.epochs_done - into_epoch));
  }
  if (metrics_.skipped_lines() > 0) {
    s.notes.push_back(fmt::format("metrics.jsonl: skipped {} damaged line(s)", metrics_.skipped_lines()));
  }
}

void RunWatcher::refresh() {
  summary_.notes.clear();
  read_status();
  read_config();
  MetricsFollower::Poll poll = metrics_.poll();
  if (poll.restarted) {
    summary_.rows.clear();
    recorded_best_.clear();
    summary_.progress.reset();
  }
  for (const json& record : poll.records) apply_record(record);
  // No stream (a run copied without it, or another tool's): the epochs from results.csv.
  if (metrics_.bytes_consumed() == 0 && fs::exists(summary_.dir / "results.csv")) {
    try {
      summary_.rows = read_results_csv(summary_.dir / "results.csv");
      recorded_best_.assign(summary_.rows.size(), std::nullopt);
    } catch (const UserError& error) {
      summary_.notes.push_back(error.what());
    }
  }
  finish_derived_fields();
}

RunSummary read_run_summary(const fs::path& dir) {
  RunWatcher watcher(dir);
  watcher.refresh();
  return watcher.summary();
}

// ---- finding runs -------------------------------------------------------------------------

bool is_run_folder(const fs::path& dir) {
  return fs::is_regular_file(dir / "config.yaml") || fs::is_regular_file(dir / "status.json");
}

std::vector<fs::path> find_runs(const fs::path& project_dir) {
  std::vector<fs::path> runs;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(project_dir, error)) {
    if (entry.is_directory() && is_run_folder(entry.path())) runs.push_back(entry.path());
  }
  std::sort(runs.begin(), runs.end());
  return runs;
}

std::vector<fs::path> resolve_run_dirs(const std::vector<std::string>& paths) {
  std::vector<fs::path> runs;
  for (const std::string& text : paths) {
    const fs::path path(text);
    if (!fs::exists(path)) fail_user("{} does not exist (expected a run folder or a project folder of runs)", text);
    if (!fs::is_directory(path)) fail_user("{} is not a folder (expected a run folder such as runs/detect/exp)", text);
    if (is_run_folder(path)) {
      runs.push_back(path);
      continue;
    }
    std::vector<fs::path> found = find_runs(path);
    if (found.empty()) {
      fail_user(
          "{} is not a run folder: it has no config.yaml or status.json, and none of its subfolders has one "
          "either (so it is not a project folder of runs). Give a folder that `shrike train` wrote, such as "
          "runs/<project>/<name>, or its project folder runs/<project>.",
          text);
    }
    runs.insert(runs.end(), found.begin(), found.end());
  }
  return runs;
}

std::vector<std::string> differing_settings(const std::vector<RunSummary>& runs) {
  const Experiment* first = nullptr;
  std::set<std::string> differing;
  for (const RunSummary& run : runs) {
    if (!run.experiment) continue;
    if (!first) {
      first = &*run.experiment;
      continue;
    }
    for (const std::string& key : Experiment::differing_keys(*first, *run.experiment)) differing.insert(key);
  }
  std::vector<std::string> keys;
  for (const auto& [key, help] : Experiment::known_keys()) {
    if (key != "name" && differing.count(key)) keys.push_back(key);
  }
  return keys;
}

std::string format_duration(double seconds) {
  const long total = std::lround(std::max(0.0, seconds));
  if (total < 60) return fmt::format("{}s", total);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  if (total < 86400) return fmt::format("{}h{:02}m", total / 3600, (total % 3600) / 60);
  return fmt::format("{}d{:02}h", total / 86400, (total % 86400) / 3600);
}

}  // namespace shrike::train
