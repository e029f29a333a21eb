// pipeline/cli/cmd_accounting.cpp: `shrike accounting settle|report|reconcile|backup|check|holds`,
// the site side of credits: charging what ran (from run folders, or from Slurm's record
// in the epilog), usage reports for admins, reconciliation with Slurm, online backups of
// the ledger, and an integrity check of its invariants.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "accounting/accounting_context.h"
#include "accounting/holds.h"
#include "accounting/ledger_access.h"
#include "accounting/ledger_backup.h"
#include "accounting/reconcile.h"
#include "accounting/report.h"
#include "accounting/settle_request.h"
#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"

namespace shrike::cli {

namespace {

namespace po = boost::program_options;
namespace acc = shrike::accounting;

CommandSpec accounting_spec() {
  CommandSpec spec;
  spec.name = "accounting";
  spec.usage =
      "shrike accounting settle RUN_DIR... | --job ID [--cluster C] [--wait S] | --all  [--jobcomp FILE | --sacct-file FILE]\n"
      "       shrike accounting report [--by account|user|project|instance|job|day|month] [--from D] [--to D]\n"
      "                                [--format table|csv|json]\n"
      "       shrike accounting reconcile [--jobcomp FILE | --sacct-file FILE] [--format table|json]\n"
      "       shrike accounting backup FILE\n"
      "       shrike accounting check\n"
      "       shrike accounting holds [--state open|closed|all]";
  spec.description =
      "settle: charge compute that ran and is not charged yet, at the price in force when it ran; safe to\n"
      "  repeat and to run concurrently (a repeat charges 0). RUN_DIR: a run folder's usage.json (local runs;\n"
      "  Slurm jobs in it are charged from Slurm's record). --job: one Slurm job, from its hold and Slurm's\n"
      "  record, releasing the rest of the hold when it has ended (the Slurm epilog's call). --all: every\n"
      "  job whose hold is still open. Slurm's record is the jobcomp/filetxt log (JobCompLoc in slurm.conf, or\n"
      "  --jobcomp) or sacct when the site runs slurmdbd (or --sacct-file with saved `sacct --parsable2` output).\n"
      "report: GPU-hours and credits charged (net of refunds), grouped, over compute days --from..--to\n"
      "  (UTC, YYYY-MM-DD or YYYY-MM; default all time), with a total row; CSV and JSON are exact.\n"
      "reconcile: jobs that ran but were not charged, charges without a Slurm job, GPU-time mismatches\n"
      "  beyond reconcile_tolerance_seconds, ended jobs whose hold is still open.\n"
      "backup: a consistent copy of the live ledger (SQLite backup API), mode 0600.\n"
      "check: verify the ledger's invariants (entries sum to zero, balances equal their entries, ...).\n"
      "Settlement by ordinary users goes through the setuid helper and is refused: it runs as root, as\n"
      "SlurmUser (the epilog) or as an accounting admin. The ledger is SHRIKE_LEDGER, else accounting.yaml\n"
      "`ledger:`, else $SHRIKE_HOME/ledger.db (SHRIKE_HOME defaults to ~/.shrike).";
  spec.options.add_options()
      ("action", po::value<std::string>()->required()->value_name("ACTION"), "settle, report, reconcile, backup, check, holds")
      ("paths", po::value<std::vector<std::string>>()->value_name("PATH"), "settle: run folders; backup: the file")
      ("job", po::value<std::string>()->value_name("ID"), "settle: one Slurm job id")
      ("cluster", po::value<std::string>()->value_name("C"), "settle --job: the job's cluster (when ambiguous)")
      ("all", po::bool_switch(), "settle: every job whose hold is still open")
      ("wait", po::value<int>()->default_value(0)->value_name("S"),
       "settle --job: wait up to S seconds for Slurm's completion record")
      ("from-usage", po::bool_switch(), "settle: charge Slurm jobs that have no Slurm record from usage.json")
      ("jobcomp", po::value<std::string>()->value_name("FILE"), "the jobcomp/filetxt log (default: from slurm.conf)")
      ("sacct-file", po::value<std::string>()->value_name("FILE"), "saved `sacct --parsable2` output to use")
      ("by", po::value<std::string>()->default_value("account")->value_name("G"), "report grouping")
      ("from", po::value<std::string>()->default_value("")->value_name("D"), "report: first compute day")
      ("to", po::value<std::string>()->default_value("")->value_name("D"), "report: last compute day")
      ("state", po::value<std::string>()->default_value("open")->value_name("S"), "holds: open, closed or all")
      ("quiet,q", po::bool_switch(), "settle: print only the summary line")
      ("format,f", po::value<std::string>()->default_value("table")->value_name("F"), "table, csv or json");
  spec.positional.add("action", 1).add("paths", -1);
  spec.epilog =
      "Examples:\n"
      "  shrike accounting settle runs/coco/exp runs/coco/exp2\n"
      "  shrike accounting settle --job $SLURM_JOB_ID --wait 30      (EpilogSlurmctld, as SlurmUser)\n"
      "  shrike accounting settle --all                               (cron, catches anything missed)\n"
      "  shrike accounting report --by month --from 2026-01 --format csv > usage.csv\n"
      "  shrike accounting reconcile --jobcomp /var/log/slurm/jobcomp.log\n"
      "  shrike accounting backup /backup/ledger-$(date +%F).db";
  return spec;
}

std::string option(const po::variables_map& values, const char* key) {
  return values.count(key) ? values[key].as<std::string>() : std::string();
}

std::vector<std::string> paths(const po::variables_map& values) {
  return values.count("paths") ? values["paths"].as<std::vector<std::string>>() : std::vector<std::string>{};
}

int run_settle_action(const po::variables_map& values) {
  acc::SettleRequest request;
  request.run_dirs = paths(values);
  request.job_id = option(values, "job");
  request.cluster = option(values, "cluster");
  request.jobcomp = option(values, "jobcomp");
  request.sacct_file = option(values, "sacct-file");
  request.all = values["all"].as<bool>();
  request.from_usage = values["from-usage"].as<bool>();
  request.wait_seconds = values["wait"].as<int>();
  if (request.run_dirs.empty() && request.job_id.empty() && !request.all) {
    fail_user("shrike accounting settle needs run folders, --job ID or --all. Run `shrike accounting --help`.");
  }
  const acc::SettleResult result = acc::run_settle(request);
  if (!values["quiet"].as<bool>()) {
    for (const acc::SegmentResult& s : result.segments) {
      if (s.charged == 0 && s.seconds_after == s.seconds_before && s.note.empty()) continue;
      fmt::print("{}: {} s -> {} s, charged {}{}\n", s.segment_key, s.seconds_before, s.seconds_after,
                 acc::format_credits(s.charged), s.note.empty() ? "" : " (" + s.note + ")");
    }
    for (const std::string& note : result.notes) fmt::print("note: {}\n", note);
    for (const std::string& key : result.closed) fmt::print("hold {} released\n", key);
  }
  fmt::print("settled {} segment(s): charged {} credits, released {} credits from {} ended job(s).\n",
             result.segments.size(), acc::format_credits(result.charged), acc::format_credits(result.released),
             result.closed.size());
  return kExitOk;
}

// Reports, reconcile, backup, check and holds read the whole ledger: its owner, root or an admin with access.
acc::Ledger open_for_admin(acc::AccountingContext& context, const std::string& action) {
  if (!std::filesystem::exists(context.ledger_path())) {
    fail_user("there is no ledger at {} yet (SHRIKE_LEDGER, accounting.yaml `ledger:` or $SHRIKE_HOME/ledger.db).",
              context.ledger_path().string());
  }
  if (!acc::may_write_ledger_directly(context.ledger_path())) {
    fail_user("shrike accounting {} reads the whole ledger {}, which user '{}' may not open: run it as the "
              "ledger's owner or root.", action, context.ledger_path().string(), context.caller().user);
  }
  return acc::Ledger(context.ledger_path(), context.caller().user);
}

int run_report_action(const po::variables_map& values) {
  const std::string format = values["format"].as<std::string>();
  acc::AccountingContext context;
  acc::Ledger ledger = open_for_admin(context, "report");
  const acc::UsageReport report = acc::build_usage_report(ledger, values["by"].as<std::string>(),
                                                          values["from"].as<std::string>(), values["to"].as<std::string>());
  fmt::print("{}", acc::render_usage_report(report, format));
  return kExitOk;
}

int run_reconcile_action(const po::variables_map& values) {
  acc::AccountingContext context;
  acc::Ledger ledger = open_for_admin(context, "reconcile");
  const acc::SlurmRecordSource source =
      acc::find_slurm_record_source(context.config(), option(values, "jobcomp"), option(values, "sacct-file"));
  if (!source.available()) {
    fail_user("no Slurm record to reconcile with: name the jobcomp log (--jobcomp FILE) or saved sacct output "
              "(--sacct-file FILE), or set JobCompType=jobcomp/filetxt and JobCompLoc in slurm.conf.");
  }
  const auto records = acc::read_slurm_records(source, "");
  const auto result = acc::reconcile_with_slurm(ledger, context.config(), records, source.describe());
  const std::string format = values["format"].as<std::string>();
  if (format != "table" && format != "json") fail_user("reconcile: --format {} is not table or json.", format);
  fmt::print("{}", acc::render_reconcile(result, format));
  return kExitOk;
}

int run_backup_action(const po::variables_map& values) {
  const std::vector<std::string> files = paths(values);
  if (files.size() != 1) fail_user("shrike accounting backup needs exactly one FILE to write.");
  acc::AccountingContext context;
  acc::Ledger ledger = open_for_admin(context, "backup");
  const int pages = acc::backup_ledger(ledger, files[0]);
  fmt::print("backed up {} to {} ({} pages, integrity ok).\n", ledger.path().string(), files[0], pages);
  return kExitOk;
}

int run_check_action() {
  acc::AccountingContext context;
  acc::Ledger ledger = open_for_admin(context, "check");
  acc::Statement integrity = ledger.db().prepare("PRAGMA integrity_check");
  std::vector<std::string> problems;
  if (integrity.step() && integrity.column_text(0) != "ok") problems.push_back("SQLite: " + integrity.column_text(0));
  for (std::string& problem : acc::check_ledger_invariants(ledger)) problems.push_back(std::move(problem));
  for (const std::string& problem : problems) fmt::print("problem: {}\n", problem);
  if (!problems.empty()) fail_user("the ledger {} has {} problem(s) (listed above).", ledger.path().string(), problems.size());
  fmt::print("ledger {} is consistent: every transaction sums to zero and every balance equals its entries.\n",
             ledger.path().string());
  return kExitOk;
}

int run_holds_action(const po::variables_map& values) {
  std::string state = values["state"].as<std::string>();
  if (state != "open" && state != "closed" && state != "all") fail_user("holds: --state {} is not open, closed or all.", state);
  acc::AccountingContext context;
  acc::Ledger ledger = open_for_admin(context, "holds");
  const auto holds = acc::list_holds(ledger, state == "all" ? "" : state);
  fmt::print("{:<40} {:<12} {:<10} {:<10} {:>4} {:>10} {:>10} {:<7} {}\n", "job key", "account", "user", "instance",
             "gpus", "held", "left", "state", "slurm job");
  for (const auto& h : holds) {
    fmt::print("{:<40} {:<12} {:<10} {:<10} {:>4} {:>10} {:>10} {:<7} {}\n", h.job_key, h.account, h.user, h.instance,
               h.gpus, acc::format_credits(h.hold_micro), acc::format_credits(h.remaining_micro), h.state,
               h.job_id.empty() ? "-" : h.cluster + ":" + h.job_id);
  }
  return kExitOk;
}

}  // namespace

int run_accounting(const Args& args) {
  CommandSpec spec = accounting_spec();
  auto parsed = parse_options(spec, args);
  if (!parsed) return kExitOk;
  const po::variables_map& values = *parsed;
  const std::string action = values["action"].as<std::string>();
  if (action == "settle") return run_settle_action(values);
  if (action == "report") return run_report_action(values);
  if (action == "reconcile") return run_reconcile_action(values);
  if (action == "backup") return run_backup_action(values);
  if (action == "check") return run_check_action();
  if (action == "holds") return run_holds_action(values);
  fail_user("shrike accounting: unknown action '{}'; use settle, report, reconcile, backup, check or holds.", action);
}

}  // namespace shrike::cli
