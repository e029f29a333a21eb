// dashboard/run_catalog.h
//
// The content of the dashboard's JSON API: projects and their runs under the runs root,
// one run in full (summary, settings, provenance, files), a comparison of a project's
// runs, and the credits page. It joins the three sources the dashboard reads: run
// folders (through pipeline/train/run_summary.h, the reader `shrike monitor` and
// `compare` use), the job registry (Slurm job and state of each run, and jobs still
// queued that have no folder yet) and the ledger (what each run was charged).
//
// Run folders are followed by one RunWatcher each, kept between requests, so a page
// polling a project re-reads only what was appended to each metrics.jsonl.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dashboard/job_registry_view.h"
#include "dashboard/ledger_view.h"
#include "dashboard/runs_root.h"
#include "pipeline/train/run_summary.h"

namespace shrike::dashboard {

class RunCatalog {
 public:
  RunCatalog(RunsRoot root, LedgerView ledger, RegistryView registry);

  const RunsRoot& root() const { return root_; }
  const LedgerView& ledger() const { return ledger_; }
  const RegistryView& registry() const { return registry_; }

  // {runs_root, user, ledger, registry, projects: [{name, runs: [row...]}]}
  nlohmann::json overview();
  // One project: {name, runs: [row...]}; `project_dir` resolved by the caller.
  nlohmann::json project(const std::string& name, const std::filesystem::path& project_dir);
  // One run: its row plus settings, provenance, files and usage.
  nlohmann::json run(const std::filesystem::path& run_dir);
  // Runs of one project side by side: rows, per-epoch curves, every setting, the keys that differ.
  nlohmann::json compare(const std::vector<std::filesystem::path>& run_dirs);
  // The user's accounts: balance, holds, charges per run, history.
  nlohmann::json credits();

  // The run's current summary (its watcher refreshed).
  train::RunSummary summary(const std::filesystem::path& run_dir);

 private:
  struct Sources;  // registry jobs and ledger costs, read once per request
  Sources read_sources();
  nlohmann::json run_row(const std::filesystem::path& run_dir, const Sources& sources);
  nlohmann::json project_runs(const std::string& name, const std::filesystem::path& project_dir,
                              const Sources& sources);

  RunsRoot root_;
  LedgerView ledger_;
  RegistryView registry_;
  struct Watched {
    std::mutex mutex;  // a RunWatcher is not thread-safe: one refresh at a time per run
    train::RunWatcher watcher;
    explicit Watched(const std::filesystem::path& dir) : watcher(dir) {}
  };
  std::mutex watchers_mutex_;
  std::map<std::filesystem::path, std::shared_ptr<Watched>> watchers_;
};

// A ResultsRow as the page's per-epoch record (the metrics.jsonl epoch keys).
nlohmann::json epoch_record_json(const train::ResultsRow& row);

}  // namespace shrike::dashboard
