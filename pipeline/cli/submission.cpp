// pipeline/cli/submission.cpp: submitting and resubmitting training jobs (see submission.h).
#include "pipeline/cli/submission.h"

#include <fmt/core.h>
#include <sys/random.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "accounting/credit_service.h"
#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/core/file_lock.h"
#include "pipeline/core/paths.h"
#include "pipeline/train/run_folder.h"
#include "pipeline/train/run_summary.h"
#include "scheduler/job_control.h"
#include "scheduler/job_registry.h"
#include "scheduler/shell_quote.h"
#include "scheduler/slurm_client.h"
#include "scheduler/submit_policy.h"

namespace shrike::cli {

namespace fs = std::filesystem;
using scheduler::JobRecord;

namespace {

// One run of the job being submitted.
struct PlannedRun {
  train::Experiment experiment;
  fs::path dir;
  std::string hold_key;
  accounting::HoldGrant grant;
  double credit_limit = 0;  // passed to the trainer
  std::optional<train::RunFolder> folder;
};

std::string random_uuid() {
  unsigned char bytes[16];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    fail_internal("getrandom failed: {}", errno_text(errno));
  }
  std::string hex;
  for (unsigned char byte : bytes) hex += fmt::format("{:02x}", byte);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

// A command line the user can paste: arguments quoted only where a shell would change them.
std::string command_text(const std::vector<std::string>& args) {
  std::string text;
  for (const std::string& arg : args) {
    const bool plain = !arg.empty() && arg.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                             "0123456789._/=:,+-@") == std::string::npos;
    text += (text.empty() ? "" : " ") + (plain ? arg : scheduler::shell_quote(arg, "argument"));
  }
  return text;
}

[[noreturn]] void fail_without_slurm(const std::vector<std::string>& local_commands) {
  std::string commands;
  for (const std::string& command : local_commands) commands += "\n  " + command;
  fail_user("Slurm is not installed here (no sbatch in PATH), so nothing was submitted. To train on this machine "
            "instead:{}\n(with several processes: mpirun -np N {}...)",
            commands, current_shrike_binary().string() + " train ");
}

// The run folder's name and project for the experiment of one run.
void point_run_at(train::Experiment& experiment, const fs::path& dir) {
  experiment.set("project", dir.parent_path().string(), "submission");
  experiment.set("name", dir.filename().string(), "submission");
  experiment.set("exist_ok", "true", "submission");  // the job trains into the folder made here
}

void write_text_file(const fs::path& path, const std::string& text) { write_file_atomically(path, text); }

// Releases holds and removes the run folders made so far (a failed submission).
void undo(std::vector<PlannedRun>& runs, const fs::path& link_dir) {
  for (PlannedRun& run : runs) {
    if (!run.hold_key.empty()) {
      try {
        accounting::release_hold(run.hold_key);
      } catch (const std::exception& error) {
        fmt::print(stderr, "warning: releasing the credit hold {} failed: {}\n", run.hold_key, error.what());
      }
    }
    if (run.folder) {
      run.folder.reset();
      std::error_code error;
      fs::remove_all(run.dir, error);
    }
  }
  if (!link_dir.empty()) {
    std::error_code error;
    fs::remove_all(link_dir, error);
  }
}

accounting::HoldGrant place_run_hold(const JobPlan& plan, PlannedRun& run, const std::string& cluster) {
  accounting::HoldRequest hold;
  hold.job_key = cluster + ":" + random_uuid();
  hold.account = plan.account;
  hold.user = plan.user;
  hold.project = run.dir.parent_path().filename().string();
  hold.run = run.dir.filename().string();
  hold.instance = plan.instance.id;
  hold.gpus = plan.gpus;
  hold.timed = run.experiment.number("time") > 0;
  hold.estimated_seconds = plan.hold_hours * 3600.0;  // one start of the job: its time limit
  run.grant = accounting::place_hold(hold);
  run.hold_key = hold.job_key;
  return run.grant;
}

struct SubmittedJob {
  std::string job_id;
  std::vector<std::string> task_ids;  // per run
};

// Renders the script into every run folder and submits it; throws UserError (sbatch's).
SubmittedJob render_and_submit(const JobPlan& plan, std::vector<PlannedRun>& runs, const std::string& job_name,
                               const fs::path& link_dir) {
  scheduler::BatchScriptSpec spec = batch_spec_for(plan, job_name);
  const bool array = runs.size() > 1;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    spec.runs.push_back({array ? std::to_string(i) : "single", runs[i].dir, runs[i].credit_limit});
  }
  if (array) {
    spec.array = fmt::format("0-{}", runs.size() - 1);
    spec.output = link_dir / "%a" / "slurm-%A_%a.out";
    spec.rate = runs.front().grant.rate_per_hour;
  } else {
    spec.output = runs.front().dir / "slurm-%j.out";
    spec.rate = runs.front().grant.rate_per_hour;
  }
  const std::string script = scheduler::render_sbatch(spec, scheduler::sbatch_template_text());
  for (const PlannedRun& run : runs) write_text_file(run.dir / "train.sbatch", script);
  SubmittedJob job;
  try {
    job.job_id = scheduler::sbatch_submit(runs.front().dir / "train.sbatch", fs::current_path());
  } catch (const UserError& error) {
    fail_user("{}\nThe job asked for partition '{}'{}{} (instance {} in {}); check that mapping with the site's admins.",
              error.what(), spec.partition,
              spec.gres_type.empty() ? "" : fmt::format(", --gres=gpu:{}:{}", spec.gres_type, spec.gpus_per_node),
              spec.constraint.empty() ? "" : fmt::format(", --constraint={}", spec.constraint), plan.instance.id,
              accounting::load_instance_catalog().source.string());
  }
  for (std::size_t i = 0; i < runs.size(); ++i) {
    job.task_ids.push_back(array ? fmt::format("{}_{}", job.job_id, i) : job.job_id);
  }
  return job;
}

// Steps 6: holds bound, registry rows, status.json pending with the job id.
void record_submission(const JobPlan& plan, std::vector<PlannedRun>& runs, const SubmittedJob& job,
                       const TrainingWorkload& workload, const std::string& resumed_from) {
  std::vector<JobRecord> records;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    PlannedRun& run = runs[i];
    accounting::bind_hold_to_job(run.hold_key, plan.cluster, job.task_ids[i]);
    JobRecord record;
    record.cluster = plan.cluster;
    record.job_id = job.task_ids[i];
    record.array_job_id = runs.size() > 1 ? job.job_id : "";
    record.raw_job_id = runs.size() > 1 ? "" : job.job_id;
    record.account = plan.account;
    record.user = plan.user;
    record.project = run.dir.parent_path().filename().string();
    record.run = run.dir.filename().string();
    record.run_dir = run.dir.string();
    record.instance = plan.instance.id;
    record.gpus = plan.gpus;
    record.nodes = plan.nodes;
    record.hold_key = run.hold_key;
    record.state = "pending";
    record.resumed_from = resumed_from;
    record.model = run.experiment.text("model");
    record.imgsz = run.experiment.integer("imgsz");
    record.gflops_per_image = workload.gflops_per_image;
    records.push_back(record);
  }
  scheduler::JobRegistry registry;
  registry.add(records);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (!runs[i].folder) runs[i].folder.emplace(train::RunFolder::open_existing(runs[i].dir));
    runs[i].folder->set_status(train::RunState::kPending,
                               resumed_from.empty() ? "submitted" : "resubmitted to continue", std::nullopt,
                               std::nullopt, job.task_ids[i]);
  }
}

// Step 6 once sbatch accepted the job: a failure here must not undo the submission.
void record_or_explain(const JobPlan& plan, std::vector<PlannedRun>& runs, const SubmittedJob& job,
                       const TrainingWorkload& workload, const std::string& resumed_from) {
  try {
    record_submission(plan, runs, job, workload, resumed_from);
  } catch (const std::exception& error) {
    fail_user("Slurm accepted job {}, but recording it failed: {}\nThe job will run, but `shrike jobs` may not list "
              "it and its credit hold may not name it. Cancel it with `scancel {}` if you do not want it.",
              job.job_id, error.what(), job.job_id);
  }
}

void print_submitted(const JobPlan& plan, const std::vector<PlannedRun>& runs, const SubmittedJob& job) {
  const bool array = runs.size() > 1;
  fmt::print("submitted job {}{} to partition {} (account {}, {} x {})\n", job.job_id,
             array ? fmt::format(" (a job array of {} runs)", runs.size()) : "", plan.instance.slurm.partition,
             plan.account, plan.gpus, plan.instance.id);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    fmt::print("  run folder   {}{}\n", runs[i].dir.string(), array ? fmt::format("   (task {})", job.task_ids[i]) : "");
  }
  const accounting::HoldGrant& grant = runs.front().grant;
  fmt::print("  credits      held {:.2f}{} at {:.4g} credits per GPU-hour; available after the hold: {:.2f}\n",
             grant.credit_limit, array ? " per run" : "", grant.rate_per_hour, grant.balance_after);
  fmt::print("  follow it    shrike jobs    shrike monitor {}    tail -f {}/slurm-{}.out\n",
             array ? runs.front().dir.parent_path().string() : runs.front().dir.string(), runs.front().dir.string(),
             array ? job.task_ids.front() : job.job_id);
  fmt::print("  stop it      shrike stop {}  (checkpoint; `shrike resume {}` continues)   cancel: shrike cancel {}\n",
             job.job_id, array ? job.task_ids.front() : job.job_id, job.job_id);
}

// One submission at a time per SHRIKE_HOME, so that two at once cannot both pass the
// policy check before either is recorded (held from the check until the job is recorded).
FileLock submission_lock() {
  const fs::path folder = scheduler::JobRegistry::default_path().parent_path();
  std::error_code error;
  fs::create_directories(folder, error);
  return FileLock(folder / "submit.lock", [] { fmt::print(stderr, "waiting for another shrike submission...\n"); });
}

// Step 2: the account's active jobs, refreshed from Slurm, against the site's limit.
void check_policy(const JobPlan& plan) {
  scheduler::JobRegistry registry;
  scheduler::refresh_job_states(registry);
  scheduler::check_active_job_limit(registry, plan.account, plan.scheduler);
}

std::vector<scheduler::ThroughputSample> past_samples() {
  if (!fs::exists(scheduler::JobRegistry::default_path())) return {};
  return past_throughput(scheduler::JobRegistry());
}

void print_dry_run_script(const JobPlan& plan, const std::vector<fs::path>& dirs, const std::string& job_name,
                          const std::string& base_name) {
  scheduler::BatchScriptSpec spec = batch_spec_for(plan, job_name);
  const bool array = dirs.size() > 1;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    spec.runs.push_back({array ? std::to_string(i) : "single", dirs[i], plan.hold_credits});
  }
  if (array) {
    spec.array = fmt::format("0-{}", dirs.size() - 1);
    spec.output = dirs.front().parent_path() / (".sweep-" + base_name + "-UUID") / "%a" / "slurm-%A_%a.out";
  } else {
    spec.output = dirs.front() / "slurm-%j.out";
  }
  const std::string script = scheduler::render_sbatch(spec, scheduler::sbatch_template_text());
  fmt::print("\nbatch script ({}; credit_limit shows the expected hold: accounting sets it at submission):\n{}",
             scheduler::sbatch_template_origin(), script);
  fmt::print("\n--dry-run: nothing was created or submitted.\n");
}

}  // namespace

int submit_training(const SubmitRequest& request) {
  train::Experiment base = load_submission_experiment(request.experiment_file, request.overrides);
  const std::vector<SweepPoint> points = expand_sweeps(request.sweeps);
  const std::string base_name = base.text("name");
  const fs::path project_dir = base.text("project");
  scheduler::check_script_path(project_dir, "project folder (project=)");
  std::vector<PlannedRun> runs;
  for (const SweepPoint& point : points) {
    PlannedRun run;
    run.experiment = base;
    for (const auto& [key, value] : point.settings) run.experiment.set(key, value, "--sweep " + key);
    const std::string name = base_name + point.name_suffix;
    scheduler::check_name(name, "run name (name=)");
    run.experiment.set("name", name, "submission");
    runs.push_back(std::move(run));
  }
  const TrainingWorkload workload = measure_workload(base);
  const JobPlan plan = make_job_plan(request.plan, base, workload, past_samples());
  for (const PlannedRun& run : runs) {  // a swept batch must divide among the GPUs too
    if (run.experiment.integer("batch") % plan.gpus != 0) {
      fail_user("batch={} does not divide among {} GPUs: sweep multiples of {}.", run.experiment.integer("batch"),
                plan.gpus, plan.gpus);
    }
  }
  const std::string job_name = "shrike-" + base_name;
  scheduler::check_name(job_name, "job name");
  std::vector<fs::path> predicted;
  for (const PlannedRun& run : runs) predicted.push_back(predicted_run_dir(project_dir, run.experiment.text("name")));
  fmt::print("{}", format_plan(plan, predicted, workload));
  if (request.dry_run) {
    print_dry_run_script(plan, predicted, job_name, base_name);
    return 0;
  }
  if (!scheduler::slurm_installed()) {
    std::vector<std::string> commands;
    for (const PlannedRun& run : runs) {
      std::vector<std::string> args{current_shrike_binary().string(), "train"};
      if (!request.experiment_file.empty()) args.push_back(request.experiment_file);
      args.insert(args.end(), request.overrides.begin(), request.overrides.end());
      args.push_back("name=" + run.experiment.text("name"));
      for (const SweepPoint& point : points) {
        if (base_name + point.name_suffix != run.experiment.text("name")) continue;
        for (const auto& [key, value] : point.settings) args.push_back(key + "=" + value);
      }
      args.push_back("instance=" + plan.instance.id);
      args.push_back("account=" + plan.account);
      commands.push_back(command_text(args));
    }
    fail_without_slurm(commands);
  }
  const FileLock lock = submission_lock();
  check_policy(plan);

  fs::path link_dir;
  SubmittedJob job;
  try {
    for (PlannedRun& run : runs) {
      run.folder.emplace(train::RunFolder::create(project_dir.string(), run.experiment.text("name"), false));
      run.dir = run.folder->dir();
      point_run_at(run.experiment, run.dir);
      run.experiment.set("instance", plan.instance.id, "submission");
      run.experiment.set("account", plan.account, "submission");
      run.folder->write_config(run.experiment.to_yaml());
      run.folder->set_status(train::RunState::kPending, "submitting");
    }
    if (runs.size() > 1) {  // --output of array tasks: <link_dir>/<task>/ points into each run folder
      link_dir = project_dir / fmt::format(".sweep-{}-{}", base_name, random_uuid().substr(0, 8));
      fs::create_directories(link_dir);
      for (std::size_t i = 0; i < runs.size(); ++i) fs::create_directory_symlink(runs[i].dir, link_dir / std::to_string(i));
      scheduler::check_script_path(link_dir, "sweep folder");
    }
    for (PlannedRun& run : runs) run.credit_limit = place_run_hold(plan, run, plan.cluster).credit_limit;
    job = render_and_submit(plan, runs, job_name, link_dir);
  } catch (const UserError& error) {
    undo(runs, link_dir);
    fail_user("{}\nNothing was submitted: the new run folder(s) were removed and no credits were held.", error.what());
  } catch (...) {
    undo(runs, link_dir);
    throw;
  }
  record_or_explain(plan, runs, job, workload, "");
  print_submitted(plan, runs, job);
  return 0;
}

int resubmit_run(const fs::path& run_dir_in, bool dry_run) {
  const fs::path run_dir = absolute_path(run_dir_in);
  const fs::path config = run_dir / "config.yaml";
  if (!fs::exists(config)) fail_user("{} is not a run folder (no config.yaml).", run_dir.string());
  std::ifstream in(config);
  std::stringstream text;
  text << in.rdbuf();
  train::Experiment experiment = train::Experiment::from_yaml_text(text.str(), config.string());
  make_paths_absolute(experiment);
  std::string state;
  try {
    state = std::string(train::run_state_name(train::read_run_status(run_dir).state));
  } catch (const UserError&) {
  }
  std::optional<JobRecord> previous;
  if (fs::exists(scheduler::JobRegistry::default_path())) previous = scheduler::JobRegistry().latest_for_run(run_dir.string());
  PlanRequest request;
  request.instance = previous ? previous->instance : experiment.text("instance");
  request.gpus = previous ? previous->gpus : 1;
  if (!previous && fs::exists(run_dir / "usage.json")) request.gpus = std::max(1, train::read_usage_json(run_dir / "usage.json").identity.gpus);
  request.nodes = previous ? previous->nodes : 1;
  request.account = experiment.text("account");
  const train::RunSummary summary = train::read_run_summary(run_dir);
  request.epochs_remaining = std::max(0, (summary.epochs > 0 ? summary.epochs : experiment.integer("epochs")) - summary.epochs_done);
  const TrainingWorkload workload = measure_workload(experiment);
  const JobPlan plan = make_job_plan(request, experiment, workload, past_samples());
  const std::string job_name = "shrike-" + run_dir.filename().string();
  scheduler::check_name(job_name, "job name");
  fmt::print("resuming {} ({}, {} of {} epochs done) from weights/last.h5\n", run_dir.string(),
             state.empty() ? "state unknown" : state, summary.epochs_done, summary.epochs);
  fmt::print("{}", format_plan(plan, {run_dir}, workload));
  if (dry_run) {
    print_dry_run_script(plan, {run_dir}, job_name, run_dir.filename().string());
    return 0;
  }
  if (!scheduler::slurm_installed()) {
    fail_without_slurm({command_text({current_shrike_binary().string(), "resume", run_dir.string(), "--local"})});
  }
  const FileLock lock = submission_lock();
  scheduler::JobRegistry registry;
  scheduler::refresh_job_states(registry);
  scheduler::check_resumable(registry, run_dir, state);
  scheduler::check_active_job_limit(registry, plan.account, plan.scheduler);

  std::vector<PlannedRun> runs(1);
  PlannedRun& run = runs.front();
  run.experiment = experiment;
  run.dir = run_dir;
  SubmittedJob job;
  try {
    const accounting::HoldGrant grant = place_run_hold(plan, run, plan.cluster);
    // The trainer counts the credits of the run's earlier segments against its limit.
    double gpu_seconds_before = 0;
    if (fs::exists(run_dir / "usage.json")) {
      const train::UsageRecord usage = train::read_usage_json(run_dir / "usage.json");
      for (const train::UsageSegment& segment : usage.segments) {
        gpu_seconds_before += std::chrono::duration<double>(segment.end - segment.start).count() *
                              segment.gpus.value_or(usage.identity.gpus);
      }
    }
    run.credit_limit = grant.credit_limit + gpu_seconds_before / 3600.0 * grant.rate_per_hour;
    scheduler::clear_stop_request(run_dir);
    job = render_and_submit(plan, runs, job_name, {});
  } catch (const UserError& error) {
    if (!run.hold_key.empty()) {
      try {
        accounting::release_hold(run.hold_key);
      } catch (const std::exception&) {
      }
    }
    fail_user("{}\nNothing was submitted and no credits were held; {} is unchanged.", error.what(), run_dir.string());
  }
  record_or_explain(plan, runs, job, workload, previous ? previous->job_id : "");
  print_submitted(plan, runs, job);
  return 0;
}

}  // namespace shrike::cli
