// pipeline/cli/cmd_jobs.cpp: `shrike jobs [--account A] [--all]`: your training jobs
// with Slurm's state (squeue, else Slurm's record of ended jobs), the run's own state,
// elapsed time, epoch, latest mAP50-95 and the run's cost so far, then each account's
// balance.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "accounting/accounting_config.h"
#include "accounting/credit_service.h"
#include "accounting/instance_catalog.h"
#include "accounting/money.h"
#include "accounting/pricing.h"
#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/train/run_folder.h"
#include "pipeline/train/run_summary.h"
#include "scheduler/job_registry.h"
#include "scheduler/run_estimate.h"
#include "scheduler/slurm_client.h"
#include "scheduler/submit_policy.h"

namespace shrike::cli {

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

constexpr std::size_t kDefaultRows = 20;

CommandSpec jobs_spec() {
  CommandSpec spec;
  spec.name = "jobs";
  spec.usage = "shrike jobs [--account A] [--all]";
  spec.description =
      "Your training jobs submitted with `shrike submit`, newest first: the job id, Slurm's state (from\n"
      "squeue; for jobs squeue has forgotten, from Slurm's record: the jobcomp log or sacct), the run's\n"
      "own state (status.json), the elapsed time, the epoch, the latest mAP50-95, what the run has cost\n"
      "so far (credits, from its usage.json at the catalogue's prices) and the run folder; then each\n"
      "account's balance. The registry is $SHRIKE_HOME/jobs.db (default ~/.shrike).";
  spec.options.add_options()
      ("account", po::value<std::string>()->value_name("A"), "only the jobs charged to account A")
      ("all", po::bool_switch(), "every job (default: the newest 20)");
  spec.epilog = "Follow one run: shrike monitor RUN_DIR. Stop: shrike stop JOB. Resume: shrike resume JOB.";
  return spec;
}

std::int64_t unix_seconds(train::WallClock::time_point time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

// Credits the run's usage.json segments cost at the catalogue's prices (empty when unknown).
std::string run_cost(const fs::path& run_dir, const accounting::InstanceCatalog& catalog,
                     const accounting::AccountingConfig& config) {
  if (!fs::exists(run_dir / "usage.json")) return "0.00";
  try {
    const train::UsageRecord usage = train::read_usage_json(run_dir / "usage.json");
    accounting::Micro total = 0;
    for (const train::UsageSegment& segment : usage.segments) {
      const accounting::InstanceType* type = catalog.find(segment.instance.value_or(usage.identity.instance));
      if (type == nullptr) return "?";
      const std::int64_t start = unix_seconds(segment.start);
      const std::int64_t seconds = std::max<std::int64_t>(0, unix_seconds(segment.end) - start);
      total += accounting::usage_cost_micro(*type, config, segment.gpus.value_or(usage.identity.gpus), start, seconds);
    }
    return accounting::format_credits(total);
  } catch (const UserError&) {
    return "?";
  }
}

std::vector<std::string> job_row(const scheduler::JobRecord& job, const accounting::InstanceCatalog& catalog,
                                 const accounting::AccountingConfig& config) {
  std::string run_state = "-", epoch = "-", map = "-";
  if (fs::is_directory(job.run_dir)) {
    const train::RunSummary summary = train::read_run_summary(job.run_dir);
    run_state = train::state_text(summary);
    if (!summary.reason.empty() && summary.state && *summary.state != train::RunState::kRunning &&
        *summary.state != train::RunState::kCompleted) {
      run_state += " (" + summary.reason.substr(0, 30) + ")";
    }
    const int current = summary.progress ? summary.progress->epoch : summary.epochs_done;
    if (summary.epochs > 0) epoch = fmt::format("{}/{}", current, summary.epochs);
    if (const std::optional<double> value = summary.final_map50_95()) map = fmt::format("{:.4f}", *value);
  } else {
    run_state = "(folder gone)";
  }
  std::string state = job.state;
  if (job.stop_requested && scheduler::is_active_state(job.state)) state += " (stopping)";
  return {job.job_id,  state, run_state, scheduler::duration_text(job.elapsed_seconds), epoch, map,
          run_cost(job.run_dir, catalog, config), job.instance, job.run_dir};
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) line += fmt::format("{:<{}}  ", row[c], widths[c]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
  }
}

void print_balances(const std::set<std::string>& accounts) {
  for (const std::string& account : accounts) {
    try {
      const accounting::AccountSummary summary = accounting::account_summary(account);
      if (!summary.exists) continue;
      fmt::print("account {}: balance {:.2f} credits, {:.2f} held by jobs, {:.2f} available\n", account,
                 summary.balance, summary.held, summary.available);
      if (const std::optional<std::string> alert = accounting::balance_alert(account)) {
        fmt::print("warning: {}\n", *alert);
      }
    } catch (const UserError& error) {
      fmt::print("account {}: balance unavailable ({})\n", account, error.what());
    }
  }
}

}  // namespace

int run_jobs(const Args& args) {
  CommandSpec spec = jobs_spec();
  auto values = parse_options(spec, args);
  if (!values) return 0;
  const std::string account = values->count("account") ? (*values)["account"].as<std::string>() : std::string();
  const bool all = (*values)["all"].as<bool>();
  if (!fs::exists(scheduler::JobRegistry::default_path())) {
    fmt::print("no jobs yet: submit one with `shrike submit EXPERIMENT.yaml` (registry {}).\n",
               scheduler::JobRegistry::default_path().string());
    return 0;
  }
  scheduler::JobRegistry registry;
  if (scheduler::slurm_installed()) {
    try {
      scheduler::refresh_job_states(registry);
    } catch (const UserError& error) {
      fmt::print(stderr, "warning: states as last seen; Slurm could not be asked: {}\n", error.what());
    }
  } else {
    fmt::print(stderr, "warning: Slurm is not installed here; states as last seen.\n");
  }
  std::vector<scheduler::JobRecord> jobs = registry.list(account);
  if (jobs.empty()) {
    fmt::print("no jobs{}.\n", account.empty() ? std::string() : " for account " + account);
    return 0;
  }
  const std::size_t total = jobs.size();
  if (!all && jobs.size() > kDefaultRows) jobs.resize(kDefaultRows);
  const accounting::InstanceCatalog catalog = accounting::load_instance_catalog();
  const accounting::AccountingConfig config = accounting::load_accounting_config();
  std::vector<std::vector<std::string>> rows = {
      {"JOB", "SLURM", "RUN", "ELAPSED", "EPOCH", "mAP50-95", "COST", "INSTANCE", "RUN FOLDER"}};
  std::set<std::string> accounts;
  for (const scheduler::JobRecord& job : jobs) {
    rows.push_back(job_row(job, catalog, config));
    accounts.insert(job.account);
  }
  print_table(rows);
  if (jobs.size() < total) fmt::print("({} older jobs not shown: --all)\n", total - jobs.size());
  print_balances(accounts);
  return 0;
}

}  // namespace shrike::cli
