// pipeline/train/run_summary.h
//
// A run folder read back into one summary (state, progress, best epoch, timing,
// system stats, the experiment) for `shrike monitor` and `shrike compare`. The reader
// is tolerant of a run that is being written or that died at any instant: a missing
// file leaves its fields empty, a torn last line of metrics.jsonl is left for the next
// read, and an unreadable file becomes a note rather than an error, because a live
// view must keep working while the trainer writes (DESIGN.md § "Run folder").
//
// RunWatcher follows a run: each refresh() re-reads the small atomic files
// (status.json, usage.json) and only the bytes appended to metrics.jsonl since the
// previous call (MetricsFollower), so a monitor does not reparse a long stream every
// tick. read_run_summary() is the one-shot form.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/train/experiment.h"
#include "pipeline/train/run_folder.h"

namespace shrike::train {

// Follows an append-only JSON-lines file: poll() returns the records of the complete
// lines written since the last poll. An unterminated last line is not consumed (the
// writer may still be writing it); an unparsable complete line is skipped and counted.
// A file that shrank below what was read (replaced, or a torn line cut off) is read
// again from its start, and poll() reports that with `restarted`.
class MetricsFollower {
 public:
  explicit MetricsFollower(std::filesystem::path path) : path_(std::move(path)) {}

  struct Poll {
    std::vector<nlohmann::json> records;
    bool restarted = false;  // the caller should forget what it built from earlier records
  };
  Poll poll();

  std::uint64_t bytes_consumed() const { return offset_; }
  int skipped_lines() const { return skipped_lines_; }

 private:
  std::filesystem::path path_;
  std::uint64_t offset_ = 0;  // bytes of complete lines consumed
  int skipped_lines_ = 0;
};

// The trainer's in-epoch progress (the last "train" record of metrics.jsonl).
struct TrainProgress {
  int epoch = 0;  // 1-based epoch being trained
  int batch = 0;
  int batches = 0;
  double images_per_second = 0;
  double box_loss = 0, cls_loss = 0, dfl_loss = 0;
};

struct RunSummary {
  std::filesystem::path dir;
  std::string name;     // the folder's name
  std::string project;  // the parent folder's name

  std::optional<RunState> state;  // nullopt: no (readable) status.json yet
  std::string reason;             // status.json "reason"
  std::string status_time;        // status.json "time"

  int epochs_done = 0;  // last completed epoch (1-based)
  int epochs = 0;       // planned epochs (the last epoch record, else the experiment), 0 if unknown
  std::optional<TrainProgress> progress;  // in-epoch progress, when newer than the last epoch

  std::vector<ResultsRow> rows;  // one per completed epoch (metrics.jsonl, else results.csv)
  std::optional<int> best_epoch;  // 1-based, as the trainer chose best.h5
  std::optional<double> best_map50, best_map50_95;

  double elapsed_seconds = 0;                 // training wall time of all sessions
  std::optional<double> eta_seconds;          // remaining, from the mean epoch time
  std::optional<double> images_per_second;    // from the last "train" record
  std::optional<double> last_update_unix;     // newest metrics.jsonl wall_time
  nlohmann::json system = nlohmann::json::object();  // the last "system" record's fields

  std::optional<Experiment> experiment;  // config.yaml, when present and valid
  std::vector<std::string> notes;        // what could not be read, for the user

  const ResultsRow* last_row() const { return rows.empty() ? nullptr : &rows.back(); }
  const ResultsRow* row_for_epoch(int epoch) const;
  // The last completed epoch's mAP50-95 (nullopt when that epoch did not validate).
  std::optional<double> final_map50_95() const;
  // Completed, failed, stopped or cancelled: nothing more will be written.
  bool finished() const;
};

// The state's name, or "unknown" when status.json is missing.
std::string state_text(const RunSummary& summary);

// Follows one run folder; see the header comment.
class RunWatcher {
 public:
  explicit RunWatcher(std::filesystem::path dir);
  // Reads what changed since the last call and updates summary().
  void refresh();
  const RunSummary& summary() const { return summary_; }

 private:
  void read_status();
  void read_config();
  void apply_record(const nlohmann::json& record);
  void apply_epoch_record(const nlohmann::json& record);
  void finish_derived_fields();

  RunSummary summary_;
  MetricsFollower metrics_;
  std::vector<std::optional<int>> recorded_best_;  // per row: the trainer's best_epoch
  std::optional<double> first_update_unix_;
  bool config_read_ = false;
};

// One-shot: the run folder's summary as it is now.
RunSummary read_run_summary(const std::filesystem::path& dir);

// A run folder has a config.yaml or a status.json.
bool is_run_folder(const std::filesystem::path& dir);
// The run folders directly under `project_dir`, sorted by name.
std::vector<std::filesystem::path> find_runs(const std::filesystem::path& project_dir);
// The run folders that `paths` name: each a run folder, or a project folder holding
// runs. Throws UserError naming a path that is neither, and what it lacks.
std::vector<std::filesystem::path> resolve_run_dirs(const std::vector<std::string>& paths);

// The settings that differ between the runs' experiments ("name" left out: each run
// has its own), in the experiment's key order. Runs without an experiment are skipped.
std::vector<std::string> differing_settings(const std::vector<RunSummary>& runs);

// "1h02m", "3m05s", "12s".
std::string format_duration(double seconds);

}  // namespace shrike::train
