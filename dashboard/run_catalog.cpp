// dashboard/run_catalog.cpp: the JSON the dashboard's API answers with.
#include "dashboard/run_catalog.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <system_error>

#include "pipeline/core/error.h"
#include "pipeline/train/experiment.h"
#include "pipeline/train/run_folder.h"

namespace shrike::dashboard {

namespace fs = std::filesystem;
using nlohmann::json;
using train::RunSummary;

namespace {

// Files of the run folder the page links to (besides everything in weights/).
constexpr const char* kRunFiles[] = {"results.csv", "results.svg", "config.yaml", "run.json",
                                     "usage.json",  "train.log",   "metrics.jsonl"};

json optional_number(std::optional<double> value) { return value ? json(*value) : json(nullptr); }

std::string user_of(const LedgerView& ledger) { return ledger.visible_accounts().front(); }

json file_json(const fs::path& file, const std::string& relative) {
  std::error_code error;
  const auto size = fs::file_size(file, error);
  const auto modified = fs::last_write_time(file, error);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::file_clock::to_sys(modified).time_since_epoch()).count();
  return {{"path", relative}, {"size", error ? 0 : size}, {"modified", seconds}};
}

json run_files(const fs::path& run_dir) {
  json files = json::array();
  std::error_code error;
  std::vector<fs::path> weights;
  for (const fs::directory_entry& entry : fs::directory_iterator(run_dir / "weights", error)) {
    if (entry.is_regular_file(error) && !entry.path().filename().string().starts_with(".") &&
        entry.path().filename().string().find(".tmp-") == std::string::npos) {
      weights.push_back(entry.path());
    }
  }
  std::sort(weights.begin(), weights.end());
  for (const fs::path& file : weights) files.push_back(file_json(file, "weights/" + file.filename().string()));
  for (const char* name : kRunFiles) {
    if (fs::is_regular_file(run_dir / name, error)) files.push_back(file_json(run_dir / name, name));
  }
  return files;
}

json settings_json(const RunSummary& summary) {
  json settings = json::array();
  if (!summary.experiment) return settings;
  for (const auto& [key, help] : train::Experiment::known_keys()) {
    settings.push_back({key, summary.experiment->text(key)});
  }
  return settings;
}

json read_json_file(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return nullptr;
  json value = json::parse(in, nullptr, false);
  return value.is_discarded() ? json(nullptr) : value;
}

json summary_json(const RunSummary& s) {
  json progress = nullptr;
  if (s.progress) {
    progress = {{"epoch", s.progress->epoch}, {"batch", s.progress->batch}, {"batches", s.progress->batches}};
  }
  return {{"name", s.name},
          {"project", s.project},
          {"state", train::state_text(s)},
          {"reason", s.reason},
          {"status_time", s.status_time},
          {"finished", s.finished()},
          {"epochs_done", s.epochs_done},
          {"epochs", s.epochs},
          {"progress", progress},
          {"best_epoch", s.best_epoch ? json(*s.best_epoch) : json(nullptr)},
          {"best_map50", optional_number(s.best_map50)},
          {"best_map50_95", optional_number(s.best_map50_95)},
          {"final_map50_95", optional_number(s.final_map50_95())},
          {"elapsed_s", s.elapsed_seconds},
          {"eta_s", optional_number(s.eta_seconds)},
          {"images_per_second", optional_number(s.images_per_second)},
          {"last_update", optional_number(s.last_update_unix)},
          {"system", s.system},
          {"notes", s.notes}};
}

}  // namespace

json epoch_record_json(const train::ResultsRow& row) {
  return {{"type", "epoch"},
          {"epoch", row.epoch},
          {"time", row.time},
          {"box_loss", row.train_box_loss},
          {"cls_loss", row.train_cls_loss},
          {"dfl_loss", row.train_dfl_loss},
          {"precision", optional_number(row.precision)},
          {"recall", optional_number(row.recall)},
          {"mAP50", optional_number(row.map50)},
          {"mAP50-95", optional_number(row.map50_95)},
          {"val_box_loss", optional_number(row.val_box_loss)},
          {"val_cls_loss", optional_number(row.val_cls_loss)},
          {"val_dfl_loss", optional_number(row.val_dfl_loss)},
          {"lr", {row.lr_pg0, row.lr_pg1, row.lr_pg2}}};
}

struct RunCatalog::Sources {
  std::string user;
  std::map<fs::path, JobView> job_of_run;  // newest job per run folder (canonical)
  std::vector<JobView> queued;             // jobs whose run folder does not exist yet
  RunCosts costs;
  std::string registry_note, ledger_note;
};

RunCatalog::RunCatalog(RunsRoot root, LedgerView ledger, RegistryView registry)
    : root_(std::move(root)), ledger_(std::move(ledger)), registry_(std::move(registry)) {}

RunCatalog::Sources RunCatalog::read_sources() {
  Sources sources;
  sources.user = user_of(ledger_);
  JobRuns job_runs;
  for (const JobView& job : registry_.jobs(sources.registry_note)) {
    job_runs.emplace(job.job_id, std::make_pair(job.project, job.run));
    std::error_code error;
    const fs::path dir = fs::weakly_canonical(job.run_dir, error);
    if (error || sources.job_of_run.count(dir)) continue;  // newest first: keep the first seen
    sources.job_of_run.emplace(dir, job);
    if (!train::is_run_folder(dir) && root_.contains(dir)) sources.queued.push_back(job);
  }
  sources.costs = ledger_.run_costs(job_runs, sources.ledger_note);
  if (sources.ledger_note.empty()) sources.ledger_note = ledger_.config_note();
  return sources;
}

RunSummary RunCatalog::summary(const fs::path& run_dir) {
  std::shared_ptr<Watched> watched;
  {
    std::lock_guard lock(watchers_mutex_);
    auto& slot = watchers_[run_dir];
    if (!slot) slot = std::make_shared<Watched>(run_dir);
    watched = slot;
  }
  std::lock_guard lock(watched->mutex);
  watched->watcher.refresh();
  return watched->watcher.summary();
}

json RunCatalog::run_row(const fs::path& run_dir, const Sources& sources) {
  const RunSummary s = summary(run_dir);
  json row = summary_json(s);
  std::string account = sources.user, project = s.project, run = s.name;
  try {
    if (fs::is_regular_file(run_dir / "usage.json")) {
      const train::UsageRecord usage = train::read_usage_json(run_dir / "usage.json");
      if (!usage.identity.account.empty()) account = usage.identity.account;
      if (!usage.identity.project.empty()) project = usage.identity.project;
      if (!usage.identity.run.empty()) run = usage.identity.run;
    }
  } catch (const UserError&) {
    // usage.json being rewritten or damaged: the cost lookup falls back to the folder names
  }
  const auto cost = sources.costs.find({account, project, run});
  row["account"] = account;
  row["cost"] = cost != sources.costs.end() ? json(credits_number(cost->second)) : json(nullptr);
  const auto job = sources.job_of_run.find(run_dir);
  row["job"] = job != sources.job_of_run.end() ? job_view_json(job->second) : json(nullptr);
  return row;
}

json RunCatalog::project(const std::string& name, const fs::path& project_dir) {
  return project_runs(name, project_dir, read_sources());
}

json RunCatalog::project_runs(const std::string& name, const fs::path& project_dir, const Sources& sources) {
  json runs = json::array();
  for (const std::string& run : root_.run_names(project_dir)) runs.push_back(run_row(project_dir / run, sources));
  for (const JobView& job : sources.queued) {
    std::error_code error;
    if (fs::weakly_canonical(fs::path(job.run_dir).parent_path(), error) != project_dir) continue;
    runs.push_back({{"name", fs::path(job.run_dir).filename().string()}, {"project", name}, {"state", "pending"},
                    {"reason", "Slurm job " + job.job_id + ": " + job.state}, {"queued", true},
                    {"epochs_done", 0}, {"epochs", 0}, {"job", job_view_json(job)}, {"cost", nullptr}});
  }
  return {{"name", name}, {"runs", runs}, {"notes", json::array()}};
}

json RunCatalog::overview() {
  const Sources sources = read_sources();
  json projects = json::array();
  for (const std::string& name : root_.project_names()) {
    const Resolved dir = root_.project(name);
    if (dir.result != Lookup::found) continue;
    json project = project_runs(name, dir.path, sources);
    if (!project["runs"].empty()) projects.push_back(std::move(project));
  }
  return {{"runs_root", root_.dir().string()},
          {"runs_root_exists", root_.exists()},
          {"user", user_of(ledger_)},
          {"ledger", {{"path", ledger_.path().string()}, {"access", ledger_.access()}, {"note", sources.ledger_note}}},
          {"registry",
           {{"path", registry_.path().string()}, {"present", registry_.present()}, {"note", sources.registry_note}}},
          {"projects", projects}};
}

json RunCatalog::run(const fs::path& run_dir) {
  const Sources sources = read_sources();
  json detail = run_row(run_dir, sources);
  const RunSummary s = summary(run_dir);
  detail["settings"] = settings_json(s);
  detail["provenance"] = read_json_file(run_dir / "run.json");
  detail["usage"] = read_json_file(run_dir / "usage.json");
  detail["files"] = run_files(run_dir);
  return detail;
}

json RunCatalog::compare(const std::vector<fs::path>& run_dirs) {
  const Sources sources = read_sources();
  json runs = json::array();
  std::vector<RunSummary> summaries;
  for (const fs::path& dir : run_dirs) {
    summaries.push_back(summary(dir));
    json row = run_row(dir, sources);
    row["settings"] = settings_json(summaries.back());
    json epochs = json::array();
    for (const train::ResultsRow& result : summaries.back().rows) epochs.push_back(epoch_record_json(result));
    row["epoch_records"] = epochs;
    runs.push_back(std::move(row));
  }
  return {{"runs", runs}, {"differing_settings", train::differing_settings(summaries)}};
}

json RunCatalog::credits() {
  JobRuns job_runs;
  std::string registry_note;
  for (const JobView& job : registry_.jobs(registry_note)) job_runs.emplace(job.job_id, std::make_pair(job.project, job.run));
  json accounts = json::array();
  json notes = json::array();
  if (!ledger_.config_note().empty()) notes.push_back(ledger_.config_note());
  for (const std::string& name : ledger_.visible_accounts()) {
    std::string note;
    accounts.push_back(account_view_json(ledger_.account(name, job_runs, note)));
    if (!note.empty()) notes.push_back(note);
  }
  return {{"user", user_of(ledger_)},
          {"ledger", {{"path", ledger_.path().string()}, {"access", ledger_.access()}}},
          {"accounts", accounts},
          {"notes", notes}};
}

}  // namespace shrike::dashboard
