// pipeline/train/run_folder.h
//
// The run folder (DESIGN.md § File contracts "Run folder", "Run states", "usage.json"):
// everything a run produces, written by rank 0 only, so that `shrike monitor`,
// `shrike compare`, accounting, TensorBoard and pandas can read a run while it trains
// and after it died at any instant.
//
//   config.yaml      the resolved experiment (atomic)
//   run.json         provenance: shrike version and commit, shard manifest checksum,
//                    host, devices, world size; earlier sessions' provenance kept under
//                    "previous" when a resume ran elsewhere (atomic). A file of its own
//                    rather than keys in config.yaml, so config.yaml stays a valid
//                    experiment file that `shrike train config.yaml` accepts as is.
//   status.json      {"state", "reason", "time", and optional "epoch", "pid", "job_id"} (atomic)
//   usage.json       the accounting contract: top-level identity + segments (atomic)
//   results.csv      Ultralytics 8.3 columns; rewritten whole each epoch (atomic). Cells
//                    as the reference's BaseTrainer.save_metrics writes them: "%.6g",
//                    unpadded (the "%23.5g"/"%23s" padding was 8.0-8.2), losses rounded
//                    to 5 decimals first (its label_loss_items). One difference: epochs
//                    without validation leave the metric and val-loss cells empty where
//                    the reference writes 0, so a plot or pandas (NaN) shows a gap, not a drop.
//   metrics.jsonl    the live stream: one JSON object per line, append-only
//   train.log        console lines, append-only
//   weights/         checkpoints (written by checkpoint.h)
//
// Append-only files are written with one write(2) per line (no user-space buffer, so
// every line is flushed when the call returns) and fsynced by flush_durably(), which the
// trainer calls at least once per epoch. A line torn by a kill is skipped by readers and
// cut off when the file is reopened for appending, so the next line starts clean.
#pragma once

#include <array>
#include <chrono>

#include "pipeline/core/utc_time.h"
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace shrike::train {

using WallClock = std::chrono::system_clock;

// Times in run-folder files are format_utc_iso8601 (pipeline/core/utc_time.h).
// Parses format_utc_iso8601's output (fractional seconds accepted and dropped).
// Throws UserError naming `where` if `text` is not such a time.
WallClock::time_point parse_utc_iso8601(std::string_view text, std::string_view where);

// gethostname(), or "localhost" if it fails.
std::string current_hostname();

// ---- run states -------------------------------------------------------------------

enum class RunState { kPending, kRunning, kPaused, kStopped, kPreempted, kCompleted, kFailed, kCancelled };

std::string_view run_state_name(RunState state);
// Throws UserError listing the valid states if `name` is not one.
RunState parse_run_state(std::string_view name);

struct RunStatus {
  RunState state = RunState::kPending;
  std::string reason;                 // "credits", "user", the error text ... may be empty
  std::string time;                   // ISO 8601 UTC of the change
  std::optional<int> epoch;           // 1-based epoch being trained or last completed
  std::optional<long> pid;
  std::optional<std::string> job_id;  // Slurm job id
};

// Reads `<run_dir>/status.json`; throws UserError if missing or malformed.
RunStatus read_run_status(const std::filesystem::path& run_dir);

// ---- provenance ---------------------------------------------------------------------

struct RunProvenance {
  std::string shrike_version;          // defaults to build_info.h's kVersion when empty
  std::string git_commit;              // defaults to kGitCommit when empty
  std::string shard_manifest_sha256;   // checksum of the training shards' manifest
  std::string host;                    // defaults to current_hostname() when empty
  std::vector<std::string> devices;    // "cpu", "cuda:0 NVIDIA H100 80GB HBM3" ...
  int world_size = 1;
};

// ---- usage.json ---------------------------------------------------------------------

// The top-level fields of usage.json; a segment overrides gpus, instance, job_id.
struct UsageIdentity {
  std::string cluster = "local";
  std::string account;   // default: the current user
  std::string user;      // default: the current user
  std::string project;
  std::string run;
  std::string job_id;    // empty outside Slurm
  std::string instance;  // instance type id ("rtx4090"), required
  int gpus = 0;          // GPUs of this job, required
};

struct UsageSegment {
  WallClock::time_point start;
  WallClock::time_point end;
  std::optional<int> gpus;              // set when it differs from the top level
  std::optional<std::string> instance;  // idem
  std::optional<std::string> job_id;    // idem
};

struct UsageRecord {
  UsageIdentity identity;
  std::vector<UsageSegment> segments;
};

// Reads a usage.json (missing optional keys take DESIGN.md's defaults). Throws UserError.
UsageRecord read_usage_json(const std::filesystem::path& path);
// usage.json's object, keys in DESIGN.md's order; segment overrides only where set.
nlohmann::ordered_json usage_to_json(const UsageRecord& usage);

// ---- results.csv --------------------------------------------------------------------

// The results.csv header of Ultralytics 8.3+, column for column.
inline constexpr std::array<std::string_view, 15> kResultsColumns = {
    "epoch", "time", "train/box_loss", "train/cls_loss", "train/dfl_loss",
    "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)",
    "val/box_loss", "val/cls_loss", "val/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2"};

// One epoch. Validation cells are empty (nullopt) for epochs that did not validate (val=False).
struct ResultsRow {
  int epoch = 0;      // 1-based, as the reference writes it
  double time = 0;    // seconds since the start of training
  double train_box_loss = 0, train_cls_loss = 0, train_dfl_loss = 0;
  std::optional<double> precision, recall, map50, map50_95;
  std::optional<double> val_box_loss, val_cls_loss, val_dfl_loss;
  double lr_pg0 = 0, lr_pg1 = 0, lr_pg2 = 0;
};

// The row's cells in kResultsColumns order (for the CSV writer and the plots).
std::array<std::optional<double>, kResultsColumns.size()> results_row_cells(const ResultsRow& row);
// One CSV cell: the reference's "%.6g" (losses rounded to 5 decimals first, as its
// label_loss_items does); empty for nullopt.
std::string format_results_cell(std::optional<double> value);
// The whole results.csv text: header line, then one line per row.
std::string render_results_csv(const std::vector<ResultsRow>& rows);
// Reads a results.csv with shrike's header (cells may be space-padded). Throws UserError.
std::vector<ResultsRow> read_results_csv(const std::filesystem::path& path);

// ---- metrics.jsonl ------------------------------------------------------------------

// The record types of metrics.jsonl's "type" field.
inline constexpr std::array<std::string_view, 4> kMetricsRecordTypes = {"train", "epoch", "system", "event"};
// The lifecycle events of records {"type": "event", "event": ...}.
inline constexpr std::array<std::string_view, 7> kRunEvents = {"start", "resume", "checkpoint", "pause",
                                                               "stop",  "finish", "error"};

// Every complete line of a metrics.jsonl; a torn (unterminated or unparsable) last
// line is skipped. A malformed line before the last throws UserError naming the line.
std::vector<nlohmann::json> read_metrics_jsonl(const std::filesystem::path& path);

// ---- the folder ---------------------------------------------------------------------

// `project` as DESIGN.md reads it: a plain name means ./runs/<name>, anything with a
// path separator (or ".", "..") is a path; empty means ./runs/default. Made absolute.
std::filesystem::path resolve_project_dir(const std::string& project);

class RunFolder {
 public:
  // Creates <project>/<name>: with exist_ok=false a taken name becomes name2, name3 ...
  // (the reference's increment_path; the folder is claimed atomically, so two runs
  // starting at once get different folders). Creates weights/ too. With exist_ok=true
  // an existing folder is reused: results.csv starts afresh (as in the reference) but
  // usage.json's segments are kept, so no record of GPU time that ran is lost.
  static RunFolder create(const std::string& project, const std::string& name, bool exist_ok);
  // Opens a run folder for resuming: reads back results.csv and usage.json segments.
  static RunFolder open_existing(const std::filesystem::path& dir);

  RunFolder(RunFolder&&) noexcept;
  RunFolder& operator=(RunFolder&&) noexcept;
  ~RunFolder();

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path weights_dir() const { return dir_ / "weights"; }
  std::string name() const { return dir_.filename().string(); }
  std::string project_name() const { return dir_.parent_path().filename().string(); }

  void write_config(std::string_view yaml_text);
  void write_provenance(const RunProvenance& provenance, WallClock::time_point now = WallClock::now());
  void set_status(RunState state, std::string_view reason, std::optional<int> epoch = std::nullopt,
                  std::optional<long> pid = std::nullopt, std::optional<std::string> job_id = std::nullopt,
                  WallClock::time_point now = WallClock::now());

  // Starts a new usage segment [now, now] and writes usage.json. The first call of a
  // run sets the top-level identity; later ones (a resume, a requeue) keep the file's
  // top level and record the segment's gpus/instance/job_id where they differ.
  void begin_segment(const UsageIdentity& identity, WallClock::time_point now = WallClock::now());
  // Moves the current segment's end to `now` and rewrites usage.json (at every checkpoint and at exit).
  void update_segment_end(WallClock::time_point now = WallClock::now());
  const UsageRecord& usage() const { return usage_; }

  // Adds (or replaces, for the same epoch) a row and rewrites results.csv.
  void append_results_row(const ResultsRow& row);
  // Drops rows after `epoch` (a resume from an older checkpoint) and rewrites results.csv.
  void keep_results_through(int epoch);
  const std::vector<ResultsRow>& results() const { return results_; }

  // Appends {"type": type, "wall_time": unix seconds, ...fields} to metrics.jsonl.
  // `type` must be one of kMetricsRecordTypes; `fields` must be an object.
  void append_metrics(std::string_view type, const nlohmann::json& fields,
                      WallClock::time_point now = WallClock::now());
  // Appends {"type": "event", "event": event, ...details}; `event` one of kRunEvents.
  void log_event(std::string_view event, const nlohmann::json& details = nlohmann::json::object(),
                 WallClock::time_point now = WallClock::now());
  // Appends one line to train.log (a newline is added when missing).
  void append_log_line(std::string_view line);
  // fsyncs metrics.jsonl and train.log.
  void flush_durably();

 private:
  explicit RunFolder(std::filesystem::path dir);
  void write_usage();
  void write_results();

  std::filesystem::path dir_;
  UsageRecord usage_;
  std::vector<ResultsRow> results_;
  int metrics_fd_ = -1;
  int log_fd_ = -1;
};

}  // namespace shrike::train
