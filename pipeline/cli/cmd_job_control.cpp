// pipeline/cli/cmd_job_control.cpp: `shrike stop JOB`, `shrike cancel JOB`, and the
// Slurm side of `shrike resume` (JOB, or RUN_DIR --submit, or a run the registry says
// was submitted): resubmission after the same checks as `shrike submit`.
#include <fmt/core.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "accounting/caller_identity.h"
#include "pipeline/cli/command_table.h"
#include "pipeline/cli/resume_dispatch.h"
#include "pipeline/cli/submission.h"
#include "pipeline/core/error.h"
#include "pipeline/core/paths.h"
#include "pipeline/train/run_folder.h"
#include "scheduler/job_control.h"
#include "scheduler/job_registry.h"
#include "scheduler/slurm_client.h"

namespace shrike::cli {

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

CommandSpec job_spec(const std::string& name, const std::string& description) {
  CommandSpec spec;
  spec.name = name;
  spec.usage = "shrike " + name + " JOB";
  spec.description = description;
  spec.options.add_options()("job", po::value<std::string>()->required()->value_name("JOB"),
                             "Slurm job id (123, or 123_4 for one task of a sweep; 123 is all its tasks)");
  spec.positional.add("job", 1);
  spec.epilog = "`shrike jobs` lists your jobs and their ids.";
  return spec;
}

void set_run_state(const scheduler::JobRecord& job, const std::string& state, const std::string& reason) {
  if (!fs::is_directory(job.run_dir)) return;
  train::RunFolder::open_existing(job.run_dir).set_status(train::parse_run_state(state), reason, std::nullopt,
                                                         std::nullopt, job.job_id);
}

int end_jobs(const Args& args, bool cancel) {
  CommandSpec spec = cancel ? job_spec("cancel",
                                       "Cancel a training job (scancel). A job that had not started is removed and "
                                       "its credit hold released;\na running one gets SIGTERM from Slurm and saves "
                                       "a checkpoint first, so its run can still be resumed.")
                            : job_spec("stop",
                                       "Stop a training job so that it can be resumed: the stop is recorded (the "
                                       "job is not requeued),\nthen the trainer is asked to save a checkpoint and "
                                       "exit (state stopped); charges end with it.\nContinue later with `shrike "
                                       "resume JOB` (or RUN_DIR).");
  auto values = parse_options(spec, args);
  if (!values) return 0;
  const std::string id = (*values)["job"].as<std::string>();
  if (!scheduler::slurm_installed()) fail_user("Slurm is not installed here (no scancel in PATH); nothing to {}.", spec.name);
  scheduler::JobRegistry registry;
  const std::vector<scheduler::JobRecord> jobs = scheduler::jobs_named(registry, id);
  const std::string user = accounting::real_caller().user;
  const std::vector<std::string> done = cancel ? scheduler::cancel_jobs(registry, jobs, user, set_run_state)
                                               : scheduler::stop_jobs(registry, jobs, user, set_run_state);
  for (const std::string& line : done) fmt::print("{}\n", line);
  return 0;
}

bool is_job_id(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789_") == std::string::npos &&
         std::isdigit(static_cast<unsigned char>(text.front()));
}

}  // namespace

int run_stop(const Args& args) { return end_jobs(args, false); }
int run_cancel(const Args& args) { return end_jobs(args, true); }

bool resume_goes_to_slurm(const Args& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") return false;
  for (const std::string& arg : args) {
    if (arg == "--local") return false;
    if (arg == "--submit" || arg == "--dry-run") return true;
  }
  if (std::getenv("SLURM_JOB_ID") != nullptr) return false;  // a batch job resuming its own run
  if (!fs::exists(args[0]) && is_job_id(args[0])) return true;
  if (!fs::exists(scheduler::JobRegistry::default_path())) return false;
  return scheduler::JobRegistry().latest_for_run(absolute_path(args[0]).string()).has_value();
}

Args without_local_flag(const Args& args) {
  Args kept;
  for (const std::string& arg : args) {
    if (arg != "--local") kept.push_back(arg);
  }
  return kept;
}

int resume_through_slurm(const Args& args) {
  std::string target;
  bool dry_run = false;
  for (const std::string& arg : args) {
    if (arg == "--submit") continue;
    if (arg == "--dry-run") {
      dry_run = true;
    } else if (arg.rfind("--", 0) == 0 || arg.find('=') != std::string::npos) {
      fail_user("shrike resume --submit takes JOB or RUN_DIR and --dry-run; '{}' is not one of them (settings of a "
                "resubmitted run come from its config.yaml).", arg);
    } else if (target.empty()) {
      target = arg;
    } else {
      fail_user("shrike resume takes one JOB or RUN_DIR; '{}' is a second one.", arg);
    }
  }
  if (target.empty()) fail_user("shrike resume --submit needs JOB or RUN_DIR. Run `shrike resume --help`.");
  fs::path run_dir = target;
  if (!fs::exists(target) && is_job_id(target)) {
    scheduler::JobRegistry registry;
    const std::vector<scheduler::JobRecord> jobs = registry.find(target);
    if (jobs.empty()) fail_user("no job {} was submitted with shrike by you; `shrike jobs --all` lists them.", target);
    if (jobs.size() > 1) {
      fail_user("job {} is a sweep of {} runs; resume one task (for example {}) or its RUN_DIR.", target, jobs.size(),
                jobs.front().job_id);
    }
    run_dir = jobs.front().run_dir;
  }
  return resubmit_run(run_dir, dry_run);
}

}  // namespace shrike::cli
