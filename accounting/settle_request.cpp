// accounting/settle_request.cpp: settle requests as arguments, and their execution.
#include "accounting/settle_request.h"

#include <fmt/core.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "accounting/accounting_context.h"
#include "accounting/helper_protocol.h"
#include "accounting/holds.h"
#include "accounting/ledger_access.h"
#include "accounting/settle_plan.h"
#include "accounting/time_text.h"
#include "pipeline/core/error.h"
#include "pipeline/core/paths.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

namespace {

// Waits up to `seconds` for Slurm's record of the job's last run to carry an end time.
void wait_for_record(const SlurmRecordSource& source, const std::string& job_id, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto records = read_slurm_records(source, job_id);
    if (!records.empty() && records.back().end > 0 && records.back().final_state()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

}  // namespace

std::vector<std::string> settle_request_to_args(const SettleRequest& r) {
  std::vector<std::string> args;
  if (!r.job_id.empty()) args.insert(args.end(), {"--job", r.job_id});
  if (!r.cluster.empty()) args.insert(args.end(), {"--cluster", r.cluster});
  if (!r.jobcomp.empty()) args.insert(args.end(), {"--jobcomp", r.jobcomp});
  if (!r.sacct_file.empty()) args.insert(args.end(), {"--sacct-file", r.sacct_file});
  if (r.all) args.push_back("--all");
  if (r.from_usage) args.push_back("--from-usage");
  if (r.wait_seconds > 0) args.insert(args.end(), {"--wait", std::to_string(r.wait_seconds)});
  args.push_back("--");
  for (const std::string& dir : r.run_dirs) args.push_back(absolute_path(dir).string());
  return args;
}

SettleRequest settle_request_from_args(const std::vector<std::string>& args) {
  SettleRequest r;
  bool dirs = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) fail_user("settle: {} needs a value.", arg);
      return args[++i];
    };
    if (dirs) r.run_dirs.push_back(arg);
    else if (arg == "--") dirs = true;
    else if (arg == "--job") r.job_id = value();
    else if (arg == "--cluster") r.cluster = value();
    else if (arg == "--jobcomp") r.jobcomp = value();
    else if (arg == "--sacct-file") r.sacct_file = value();
    else if (arg == "--all") r.all = true;
    else if (arg == "--from-usage") r.from_usage = true;
    else if (arg == "--wait") r.wait_seconds = std::atoi(value().c_str());
    else fail_user("settle: unknown argument '{}'.", arg);
  }
  return r;
}

SettleResult run_settle_directly(const SettleRequest& request) {
  AccountingContext context;
  Ledger ledger(context.ledger_path(), context.caller().user);
  SettleOptions options;
  options.slurm = find_slurm_record_source(context.config(), request.jobcomp, request.sacct_file);
  options.cluster = request.cluster;
  options.from_usage = request.from_usage;
  options.default_user = context.caller().user;
  options.now = unix_now();
  SettleResult result;
  if (!request.run_dirs.empty()) {
    std::vector<fs::path> dirs(request.run_dirs.begin(), request.run_dirs.end());
    result.add(settle_run_dirs(ledger, context.config(), context.catalog(), dirs, options));
  }
  if (!request.job_id.empty()) {
    if (request.wait_seconds > 0 && options.slurm.available()) {
      wait_for_record(options.slurm, request.job_id, request.wait_seconds);
    }
    result.add(settle_slurm_job(ledger, context.config(), context.catalog(), request.job_id, options));
  }
  if (request.all) result.add(settle_open_jobs(ledger, context.config(), context.catalog(), options));
  return result;
}

SettleResult run_settle(const SettleRequest& request) {
  AccountingContext context;
  if (may_write_ledger_directly(context.ledger_path())) return run_settle_directly(request);
  std::vector<std::string> args = {"settle"};
  for (std::string& arg : settle_request_to_args(request)) args.push_back(std::move(arg));
  return settle_result_from_json(parse_helper_output(call_ledger_helper(context.ledger_path(), args)));
}

}  // namespace shrike::accounting
