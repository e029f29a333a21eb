// pipeline/train/run_folder.cpp: the run folder's files (see run_folder.h for the contract).
#include "pipeline/train/run_folder.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "build_info.h"
#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/core/paths.h"

namespace shrike::train {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

// ---- small helpers --------------------------------------------------------------------


WallClock::time_point parse_utc_iso8601(std::string_view text, std::string_view where) {
  std::tm utc{};
  int consumed = 0;
  std::string copy(text);
  int fields = std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &utc.tm_year, &utc.tm_mon, &utc.tm_mday,
                           &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &consumed);
  std::string_view rest = fields == 6 ? std::string_view(copy).substr(consumed) : std::string_view();
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(std::min(rest.find_first_not_of("0123456789", 1), rest.size()));
  }
  if (fields != 6 || rest != "Z") {
    fail_user("{}: '{}' is not a UTC time like 2026-11-01T10:00:00Z", where, text);
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return WallClock::from_time_t(timegm(&utc));
}

std::string current_hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

static std::string current_user() {
  if (const char* user = std::getenv("USER"); user && *user) return user;
  if (const passwd* entry = ::getpwuid(::geteuid()); entry && entry->pw_name) return entry->pw_name;
  return fmt::format("uid{}", ::geteuid());
}

static double unix_seconds(WallClock::time_point time) {
  return std::chrono::duration<double>(time.time_since_epoch()).count();
}

static std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_user("cannot read {}: {}", path.string(), errno_text(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

static json parse_json_file(const fs::path& path) {
  try {
    return json::parse(read_whole_file(path));
  } catch (const json::exception& e) {
    fail_user("{} is not valid JSON ({}); restore it or remove it", path.string(), e.what());
  }
}

// ---- run states -----------------------------------------------------------------------

static constexpr std::array<std::pair<RunState, std::string_view>, 8> kRunStateNames = {{
    {RunState::kPending, "pending"},     {RunState::kRunning, "running"},
    {RunState::kPaused, "paused"},       {RunState::kStopped, "stopped"},
    {RunState::kPreempted, "preempted"}, {RunState::kCompleted, "completed"},
    {RunState::kFailed, "failed"},       {RunState::kCancelled, "cancelled"},
}};

std::string_view run_state_name(RunState state) {
  for (const auto& [value, name] : kRunStateNames) {
    if (value == state) return name;
  }
  fail_internal("run state {} has no name", static_cast<int>(state));
}

RunState parse_run_state(std::string_view name) {
  for (const auto& [value, known] : kRunStateNames) {
    if (known == name) return value;
  }
  fail_user("'{}' is not a run state; expected one of pending, running, paused, stopped, preempted, "
            "completed, failed, cancelled",
            name);
}

RunStatus read_run_status(const fs::path& run_dir) {
  fs::path path = run_dir / "status.json";
  json object = parse_json_file(path);
  try {
    RunStatus status;
    status.state = parse_run_state(object.at("state").get<std::string>());
    status.reason = object.value("reason", "");
    status.time = object.at("time").get<std::string>();
    if (object.contains("epoch")) status.epoch = object["epoch"].get<int>();
    if (object.contains("pid")) status.pid = object["pid"].get<long>();
    if (object.contains("job_id")) status.job_id = object["job_id"].get<std::string>();
    return status;
  } catch (const json::exception& e) {
    fail_user("{}: {}", path.string(), e.what());
  } catch (const UserError& e) {
    fail_user("{}: {}", path.string(), e.what());
  }
}

// ---- usage.json -----------------------------------------------------------------------

static UsageSegment segment_from_json(const json& object, const std::string& where) {
  UsageSegment segment;
  segment.start = parse_utc_iso8601(object.at("start").get<std::string>(), where);
  segment.end = parse_utc_iso8601(object.at("end").get<std::string>(), where);
  if (object.contains("gpus")) segment.gpus = object["gpus"].get<int>();
  if (object.contains("instance")) segment.instance = object["instance"].get<std::string>();
  if (object.contains("job_id")) segment.job_id = object["job_id"].get<std::string>();
  return segment;
}

UsageRecord read_usage_json(const fs::path& path) {
  json object = parse_json_file(path);
  try {
    if (object.value("version", 1) != 1) fail_user("version {} is not 1", object["version"].dump());
    UsageRecord usage;
    UsageIdentity& id = usage.identity;
    id.cluster = object.value("cluster", "local");
    id.account = object.value("account", current_user());
    id.user = object.value("user", current_user());
    id.project = object.value("project", "");
    id.run = object.value("run", "");
    id.job_id = object.value("job_id", "");
    id.instance = object.at("instance").get<std::string>();
    id.gpus = object.at("gpus").get<int>();
    for (const json& segment : object.at("segments")) {
      usage.segments.push_back(segment_from_json(segment, path.string()));
    }
    return usage;
  } catch (const json::exception& e) {
    fail_user("{}: {} (DESIGN.md § usage.json gives the format)", path.string(), e.what());
  }
}

ordered_json usage_to_json(const UsageRecord& usage) {
  const UsageIdentity& id = usage.identity;
  ordered_json object = {{"version", 1},         {"cluster", id.cluster}, {"account", id.account},
                         {"user", id.user},      {"project", id.project}, {"run", id.run},
                         {"job_id", id.job_id},  {"instance", id.instance}, {"gpus", id.gpus}};
  ordered_json segments = ordered_json::array();
  for (const UsageSegment& segment : usage.segments) {
    ordered_json entry = {{"start", format_utc_iso8601(segment.start)}, {"end", format_utc_iso8601(segment.end)}};
    if (segment.gpus) entry["gpus"] = *segment.gpus;
    if (segment.instance) entry["instance"] = *segment.instance;
    if (segment.job_id) entry["job_id"] = *segment.job_id;
    segments.push_back(std::move(entry));
  }
  object["segments"] = std::move(segments);
  return object;
}

// ---- results.csv ----------------------------------------------------------------------

std::array<std::optional<double>, kResultsColumns.size()> results_row_cells(const ResultsRow& row) {
  return {row.epoch,      row.time,         row.train_box_loss, row.train_cls_loss, row.train_dfl_loss,
          row.precision,  row.recall,       row.map50,          row.map50_95,       row.val_box_loss,
          row.val_cls_loss, row.val_dfl_loss, row.lr_pg0,       row.lr_pg1,         row.lr_pg2};
}

static bool is_loss_column(std::size_t column) { return (column >= 2 && column <= 4) || (column >= 9 && column <= 11); }

std::string format_results_cell(std::optional<double> value) {
  if (!value) return "";
  return fmt::format("{:.6g}", *value);
}

static std::string render_results_line(const ResultsRow& row) {
  auto cells = results_row_cells(row);
  std::string line;
  for (std::size_t column = 0; column < cells.size(); ++column) {
    std::optional<double> value = cells[column];
    if (value && is_loss_column(column) && std::isfinite(*value)) value = std::round(*value * 1e5) / 1e5;
    if (column > 0) line += ',';
    line += format_results_cell(value);
  }
  return line;
}

static std::string results_header() {
  std::string header;
  for (std::string_view column : kResultsColumns) {
    if (!header.empty()) header += ',';
    header += column;
  }
  return header;
}

std::string render_results_csv(const std::vector<ResultsRow>& rows) {
  std::string text = results_header() + "\n";
  for (const ResultsRow& row : rows) text += render_results_line(row) + "\n";
  return text;
}

static std::vector<std::string> split_csv_trimmed(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream stream(line);
  std::string cell;
  while (std::getline(stream, cell, ',')) {
    std::size_t first = cell.find_first_not_of(" \t\r");
    std::size_t last = cell.find_last_not_of(" \t\r");
    cells.push_back(first == std::string::npos ? "" : cell.substr(first, last - first + 1));
  }
  if (!line.empty() && line.back() == ',') cells.emplace_back();
  return cells;
}

static std::optional<double> parse_results_cell(const std::string& cell, const std::string& where) {
  if (cell.empty()) return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(cell.c_str(), &end);
  if (end != cell.c_str() + cell.size()) fail_user("{}: '{}' is not a number", where, cell);
  return value;
}

static ResultsRow results_row_from_cells(const std::vector<std::optional<double>>& c, const std::string& where) {
  for (std::size_t column : {0, 1, 2, 3, 4, 12, 13, 14}) {
    if (!c[column]) fail_user("{}: column {} is empty", where, kResultsColumns[column]);
  }
  return ResultsRow{static_cast<int>(*c[0]), *c[1], *c[2], *c[3], *c[4], c[5], c[6], c[7], c[8],
                    c[9], c[10], c[11], *c[12], *c[13], *c[14]};
}

std::vector<ResultsRow> read_results_csv(const fs::path& path) {
  std::stringstream text(read_whole_file(path));
  std::string line;
  std::vector<ResultsRow> rows;
  if (!std::getline(text, line)) return rows;
  std::vector<std::string> header = split_csv_trimmed(line);
  if (header != std::vector<std::string>(kResultsColumns.begin(), kResultsColumns.end())) {
    fail_user("{}: the header is not shrike's ({}); was it written by another tool?", path.string(), results_header());
  }
  for (int number = 2; std::getline(text, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = fmt::format("{}:{}", path.string(), number);
    std::vector<std::string> cells = split_csv_trimmed(line);
    if (cells.size() != kResultsColumns.size()) {
      fail_user("{}: {} cells, expected {}", where, cells.size(), kResultsColumns.size());
    }
    std::vector<std::optional<double>> values;
    for (const std::string& cell : cells) values.push_back(parse_results_cell(cell, where));
    rows.push_back(results_row_from_cells(values, where));
  }
  return rows;
}

// ---- metrics.jsonl --------------------------------------------------------------------

std::vector<json> read_metrics_jsonl(const fs::path& path) {
  std::string text = read_whole_file(path);
  std::vector<json> records;
  std::size_t begin = 0;
  for (int number = 1; begin < text.size(); ++number) {
    std::size_t end = text.find('\n', begin);
    bool last = end == std::string::npos || end + 1 >= text.size();
    if (end == std::string::npos) break;  // unterminated: torn by a kill while writing
    std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded()) {
      if (last) break;
      fail_user("{}:{}: not a JSON object; the file is damaged before its last line", path.string(), number);
    }
    records.push_back(std::move(record));
  }
  return records;
}

// Opens an append-only file; a final line without its newline (torn by a kill) is cut
// off (`cut_torn_line`) or closed with a newline, so the next line starts clean.
static int open_append_only(const fs::path& path, bool cut_torn_line) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) fail_user("cannot open {} for appending: {}", path.string(), errno_text(errno));
  struct stat info {};
  char last_byte = '\n';
  if (::fstat(fd, &info) != 0 || (info.st_size > 0 && ::pread(fd, &last_byte, 1, info.st_size - 1) != 1)) {
    fail_user("cannot read {}: {}", path.string(), errno_text(errno));
  }
  if (last_byte == '\n') return fd;
  std::string text = read_whole_file(path);  // rare: only after a kill mid-line
  std::size_t keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
  bool repaired = cut_torn_line ? ::ftruncate(fd, static_cast<off_t>(keep)) == 0 : ::write(fd, "\n", 1) == 1;
  if (!repaired) fail_user("cannot repair the torn last line of {}: {}", path.string(), errno_text(errno));
  return fd;
}

static void append_line(int fd, std::string line, const char* file) {
  if (line.empty() || line.back() != '\n') line += '\n';
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t written = ::write(fd, rest.data(), rest.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) fail_user("cannot append to {} in the run folder: {}", file, errno_text(errno));
    rest.remove_prefix(static_cast<std::size_t>(written));
  }
}

static void fsync_fd(int fd, const char* file) {
  if (fd >= 0 && ::fsync(fd) != 0 && errno != EINVAL) {
    fail_user("cannot sync {} in the run folder: {}", file, errno_text(errno));
  }
}

// ---- the folder -----------------------------------------------------------------------

fs::path resolve_project_dir(const std::string& project) {
  if (project.empty()) return absolute_path("runs/default");
  bool is_path = project.find('/') != std::string::npos || project == "." || project == "..";
  return absolute_path(is_path ? fs::path(project) : fs::path("runs") / project);
}

// Claims <project_dir>/<name>, then name2, name3 ... (create_directory is atomic).
static fs::path claim_incremented_dir(const fs::path& project_dir, const std::string& name) {
  for (int number = 1; number < 100000; ++number) {
    fs::path candidate = project_dir / (number == 1 ? name : fmt::format("{}{}", name, number));
    std::error_code error;
    if (!fs::exists(candidate, error) && fs::create_directory(candidate, error)) return candidate;
    if (error) fail_user("cannot create the run folder {}: {}", candidate.string(), error.message());
  }
  fail_user("{} already holds {} ... {}99999; choose another name=", project_dir.string(), name, name);
}

RunFolder RunFolder::create(const std::string& project, const std::string& name, bool exist_ok) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    fail_user("name='{}' is not a run name: use a plain folder name such as exp", name);
  }
  fs::path project_dir = resolve_project_dir(project);
  std::error_code error;
  fs::create_directories(project_dir, error);
  if (error) fail_user("cannot create the project folder {}: {}", project_dir.string(), error.message());
  fs::path dir = exist_ok ? project_dir / name : claim_incremented_dir(project_dir, name);
  fs::create_directories(dir / "weights", error);
  if (error) fail_user("cannot create the run folder {}: {}", dir.string(), error.message());
  RunFolder folder(dir);
  if (fs::exists(dir / "usage.json")) folder.usage_ = read_usage_json(dir / "usage.json");
  folder.write_results();
  return folder;
}

RunFolder RunFolder::open_existing(const fs::path& dir) {
  fs::path absolute = absolute_path(dir);
  if (!fs::is_directory(absolute)) fail_user("{} is not a run folder (no such folder)", absolute.string());
  std::error_code error;
  fs::create_directories(absolute / "weights", error);
  if (error) fail_user("cannot create {}: {}", (absolute / "weights").string(), error.message());
  RunFolder folder(absolute);
  if (fs::exists(absolute / "usage.json")) folder.usage_ = read_usage_json(absolute / "usage.json");
  if (fs::exists(absolute / "results.csv")) folder.results_ = read_results_csv(absolute / "results.csv");
  return folder;
}

RunFolder::RunFolder(fs::path dir) : dir_(std::move(dir)) {
  metrics_fd_ = open_append_only(dir_ / "metrics.jsonl", /*cut_torn_line=*/true);
  log_fd_ = open_append_only(dir_ / "train.log", /*cut_torn_line=*/false);
}

RunFolder::RunFolder(RunFolder&& other) noexcept
    : dir_(std::move(other.dir_)), usage_(std::move(other.usage_)), results_(std::move(other.results_)),
      metrics_fd_(std::exchange(other.metrics_fd_, -1)), log_fd_(std::exchange(other.log_fd_, -1)) {}

RunFolder& RunFolder::operator=(RunFolder&& other) noexcept {
  std::swap(dir_, other.dir_);
  std::swap(usage_, other.usage_);
  std::swap(results_, other.results_);
  std::swap(metrics_fd_, other.metrics_fd_);
  std::swap(log_fd_, other.log_fd_);
  return *this;
}

RunFolder::~RunFolder() {
  if (metrics_fd_ >= 0) ::close(metrics_fd_);
  if (log_fd_ >= 0) ::close(log_fd_);
}

void RunFolder::write_config(std::string_view yaml_text) { write_file_atomically(dir_ / "config.yaml", yaml_text); }

void RunFolder::write_provenance(const RunProvenance& provenance, WallClock::time_point now) {
  ordered_json record = {
      {"shrike_version", provenance.shrike_version.empty() ? kVersion : provenance.shrike_version},
      {"git_commit", provenance.git_commit.empty() ? kGitCommit : provenance.git_commit},
      {"shard_manifest_sha256", provenance.shard_manifest_sha256},
      {"host", provenance.host.empty() ? current_hostname() : provenance.host},
      {"devices", provenance.devices},
      {"world_size", provenance.world_size},
      {"written", format_utc_iso8601(now)}};
  ordered_json previous = ordered_json::array();
  if (fs::exists(dir_ / "run.json")) {
    ordered_json old = ordered_json::parse(read_whole_file(dir_ / "run.json"), nullptr, false);
    if (old.is_object()) {
      if (old.contains("previous") && old["previous"].is_array()) previous = old["previous"];
      old.erase("previous");
      old.erase("version");
      previous.push_back(std::move(old));
    }
  }
  ordered_json file = {{"version", 1}};
  file.update(record);
  if (!previous.empty()) file["previous"] = std::move(previous);
  write_file_atomically(dir_ / "run.json", file.dump(2) + "\n");
}

void RunFolder::set_status(RunState state, std::string_view reason, std::optional<int> epoch,
                           std::optional<long> pid, std::optional<std::string> job_id, WallClock::time_point now) {
  ordered_json status = {{"state", run_state_name(state)}, {"reason", std::string(reason)}, {"time", format_utc_iso8601(now)}};
  if (epoch) status["epoch"] = *epoch;
  if (pid) status["pid"] = *pid;
  if (job_id) status["job_id"] = *job_id;
  write_file_atomically(dir_ / "status.json", status.dump(2) + "\n");
}

void RunFolder::begin_segment(const UsageIdentity& identity, WallClock::time_point now) {
  if (identity.instance.empty() || identity.gpus <= 0) {
    fail_internal("usage.json needs an instance and gpus > 0 (got '{}', {})", identity.instance, identity.gpus);
  }
  UsageSegment segment{now, now, std::nullopt, std::nullopt, std::nullopt};
  if (usage_.segments.empty()) {
    usage_.identity = identity;
    if (usage_.identity.account.empty()) usage_.identity.account = current_user();
    if (usage_.identity.user.empty()) usage_.identity.user = current_user();
  } else {
    const UsageIdentity& top = usage_.identity;
    if (identity.gpus != top.gpus) segment.gpus = identity.gpus;
    if (identity.instance != top.instance) segment.instance = identity.instance;
    if (identity.job_id != top.job_id) segment.job_id = identity.job_id;
  }
  usage_.segments.push_back(segment);
  write_usage();
}

void RunFolder::update_segment_end(WallClock::time_point now) {
  if (usage_.segments.empty()) fail_internal("update_segment_end before begin_segment in {}", dir_.string());
  UsageSegment& current = usage_.segments.back();
  current.end = std::max(now, current.start);
  write_usage();
}

void RunFolder::write_usage() { write_file_atomically(dir_ / "usage.json", usage_to_json(usage_).dump(2) + "\n"); }

void RunFolder::append_results_row(const ResultsRow& row) {
  std::erase_if(results_, [&](const ResultsRow& kept) { return kept.epoch == row.epoch; });
  auto position = std::find_if(results_.begin(), results_.end(),
                               [&](const ResultsRow& kept) { return kept.epoch > row.epoch; });
  results_.insert(position, row);
  write_results();
}

void RunFolder::keep_results_through(int epoch) {
  std::erase_if(results_, [&](const ResultsRow& kept) { return kept.epoch > epoch; });
  write_results();
}

void RunFolder::write_results() { write_file_atomically(dir_ / "results.csv", render_results_csv(results_)); }

void RunFolder::append_metrics(std::string_view type, const json& fields, WallClock::time_point now) {
  if (std::find(kMetricsRecordTypes.begin(), kMetricsRecordTypes.end(), type) == kMetricsRecordTypes.end()) {
    fail_internal("metrics.jsonl record type '{}' is not train, epoch, system or event", type);
  }
  if (!fields.is_object()) fail_internal("metrics.jsonl fields must be a JSON object, got {}", fields.dump());
  json body = fields;
  body.erase("type");
  body.erase("wall_time");
  std::string line = fmt::format(R"({{"type":{},"wall_time":{:.3f})", json(std::string(type)).dump(), unix_seconds(now));
  std::string rest = body.dump();  // "{...}": its members follow ours
  if (rest.size() > 2) rest[0] = ',';
  line.append(rest.size() > 2 ? rest : std::string("}"));
  append_line(metrics_fd_, std::move(line), "metrics.jsonl");
}

void RunFolder::log_event(std::string_view event, const json& details, WallClock::time_point now) {
  if (std::find(kRunEvents.begin(), kRunEvents.end(), event) == kRunEvents.end()) {
    fail_internal("metrics.jsonl event '{}' is not one of start, resume, checkpoint, pause, stop, finish, error",
                  event);
  }
  json fields = {{"event", std::string(event)}};
  if (details.is_object()) fields.update(details);
  append_metrics("event", fields, now);
}

void RunFolder::append_log_line(std::string_view line) { append_line(log_fd_, std::string(line), "train.log"); }

void RunFolder::flush_durably() {
  fsync_fd(metrics_fd_, "metrics.jsonl");
  fsync_fd(log_fd_, "train.log");
}

}  // namespace shrike::train
