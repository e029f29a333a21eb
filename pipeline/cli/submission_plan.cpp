// pipeline/cli/submission_plan.cpp: instance, resources, estimate and time limit of a
// submission, and how the plan reads.
#include "pipeline/cli/submission_plan.h"

#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cmath>

#include "accounting/caller_identity.h"
#include "accounting/money.h"
#include "accounting/pricing.h"
#include "pipeline/core/error.h"
#include "scheduler/instance_advice.h"
#include "scheduler/shell_quote.h"
#include "scheduler/slurm_client.h"

namespace shrike::cli {

namespace fs = std::filesystem;

namespace {

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void resolve_identity(const PlanRequest& request, const train::Experiment& experiment,
                      const accounting::AccountingConfig& accounting, JobPlan& plan) {
  plan.user = accounting::real_caller().user;
  plan.slurm_account = !request.account.empty() ? request.account : experiment.text("account");
  plan.account = plan.slurm_account.empty() ? plan.user : plan.slurm_account;
  scheduler::check_name(plan.account, "account (--account or the experiment's account:)");
  if (!accounting.may_use_account(plan.user, plan.account)) {
    fail_user("user '{}' may not charge account '{}': only its members may (accounts.{}.members in {}), and admins.",
              plan.user, plan.account, plan.account,
              accounting.source.empty() ? std::string("the site's accounting.yaml") : accounting.source.string());
  }
}

void choose_instance(const PlanRequest& request, const train::Experiment& experiment, const TrainingWorkload& workload,
                     const accounting::InstanceCatalog& catalog, JobPlan& plan) {
  if (!request.instance.empty()) {
    plan.instance = catalog.at(request.instance);
    return;
  }
  scheduler::AdviceInput input;
  input.train_images = workload.train_images;
  input.batch = experiment.integer("batch");
  input.imgsz = experiment.integer("imgsz");
  input.gpus = request.gpus;
  input.gflops_640 = workload.gflops_640;
  input.budget = request.budget;
  const scheduler::InstanceAdvice advice = scheduler::recommend_instance(input, catalog);
  plan.instance = catalog.at(advice.instance);
  plan.instance_reasons = advice.reasons;
}

void check_layout(const PlanRequest& request, const train::Experiment& experiment, JobPlan& plan) {
  if (request.gpus < 1 || request.gpus > 100000) fail_user("--gpus {} must be at least 1.", request.gpus);
  if (request.nodes < 1 || request.nodes > request.gpus) {
    fail_user("--nodes {} must be between 1 and --gpus ({}): each node runs at least one GPU's process.", request.nodes,
              request.gpus);
  }
  if (request.gpus % request.nodes != 0) {
    fail_user("--gpus {} does not divide among --nodes {}: give a multiple of {} GPUs.", request.gpus, request.nodes,
              request.nodes);
  }
  const int batch = experiment.integer("batch");
  if (batch % request.gpus != 0) {
    fail_user("batch={} does not divide among {} GPUs (one process each takes batch / GPUs): use a multiple of {}.",
              batch, request.gpus, request.gpus);
  }
  if (request.time_hours < 0 || request.time_hours > 366 * 24) fail_user("--time {} must be between 0 and 8784 hours.",
                                                                         request.time_hours);
  plan.gpus = request.gpus;
  plan.nodes = request.nodes;
  plan.gpus_per_node = request.gpus / request.nodes;
}

void plan_time(const PlanRequest& request, JobPlan& plan) {
  const scheduler::SchedulerConfig& config = plan.scheduler;
  plan.time_limit_minutes = scheduler::time_limit_minutes(plan.estimate.total_seconds, request.time_hours,
                                                          config.time_margin, config.min_time_limit_minutes,
                                                          config.signal_lead_seconds);
  const std::string floor = fmt::format("at least {} min + the {} s signal lead", config.min_time_limit_minutes,
                                        config.signal_lead_seconds);
  plan.time_limit_why = request.time_hours > 0
                            ? fmt::format("--time {:g} h, {}", request.time_hours, floor)
                            : fmt::format("estimate {} x margin {:g}, {}", scheduler::duration_text(plan.estimate.total_seconds),
                                          config.time_margin, floor);
}

}  // namespace

JobPlan make_job_plan(const PlanRequest& request, const train::Experiment& experiment, const TrainingWorkload& workload,
                      const std::vector<scheduler::ThroughputSample>& past) {
  JobPlan plan;
  const accounting::AccountingConfig accounting = accounting::load_accounting_config();
  const accounting::InstanceCatalog catalog = accounting::load_instance_catalog();
  plan.scheduler = scheduler::load_scheduler_config();
  plan.cluster = scheduler::slurm_cluster_name();
  resolve_identity(request, experiment, accounting, plan);
  check_layout(request, experiment, plan);
  choose_instance(request, experiment, workload, catalog, plan);
  const std::int64_t now = unix_now();
  plan.credits_per_gpu_hour = accounting::to_credits(accounting::rate_micro_per_gpu_hour(plan.instance, accounting, now));
  plan.money_per_gpu_hour = plan.instance.price_at(now)->per_gpu_hour;
  plan.currency = accounting.currency;

  scheduler::EstimateInput input;
  input.train_images = workload.train_images;
  input.val_images = experiment.flag("val") ? workload.val_images : 0;
  input.epochs = request.epochs_remaining >= 0 ? request.epochs_remaining : experiment.integer("epochs");
  input.time_hours = experiment.number("time");
  input.gpus = plan.gpus;
  input.gflops_per_image = workload.gflops_per_image;
  input.imgsz = experiment.integer("imgsz");
  input.instance = &plan.instance;
  input.credits_per_gpu_hour = plan.credits_per_gpu_hour;
  input.money_per_gpu_hour = plan.money_per_gpu_hour;
  input.currency = plan.currency;
  input.past = past;
  plan.estimate = scheduler::estimate_run(input);
  plan.timed = input.time_hours > 0;
  plan_time(request, plan);
  // A hold covers one full start of the job: its time limit (the estimate with margin; for
  // timed training, time= with margin), so the trainer's credit check (which pauses a
  // little before the limit) never stops a run that keeps to its plan.
  plan.hold_hours = plan.time_limit_minutes / 60.0;
  plan.hold_credits = plan.hold_hours * plan.gpus * plan.credits_per_gpu_hour;
  return plan;
}

scheduler::BatchScriptSpec batch_spec_for(const JobPlan& plan, const std::string& job_name) {
  scheduler::BatchScriptSpec spec;
  spec.job_name = job_name;
  spec.partition = plan.instance.slurm.partition;
  spec.slurm_account = plan.slurm_account;
  spec.gres_type = plan.instance.slurm.gres_type;
  spec.constraint = plan.instance.slurm.constraint;
  spec.nodes = plan.nodes;
  spec.tasks_per_node = plan.gpus_per_node;
  spec.gpus_per_node = plan.instance.is_cpu() ? 0 : plan.gpus_per_node;
  spec.cpus_per_task = plan.instance.cpus_per_gpu;
  const double memory_gb = std::max(1.0, plan.instance.memory_gb_per_gpu) * plan.gpus_per_node;
  spec.memory_mb_per_node = static_cast<std::int64_t>(std::ceil(memory_gb * 1024.0));
  spec.time_limit_minutes = plan.time_limit_minutes;
  spec.signal_lead_seconds = plan.scheduler.signal_lead_seconds;
  spec.shrike_binary = current_shrike_binary();
  spec.billed_gpus = plan.gpus;
  spec.rate = plan.credits_per_gpu_hour;
  spec.instance = plan.instance.id;
  spec.account = plan.account;
  return spec;
}

std::string format_plan(const JobPlan& plan, const std::vector<fs::path>& run_dirs, const TrainingWorkload& workload) {
  std::string text = fmt::format("plan (user {}, account {}{}, cluster {}):\n", plan.user, plan.account,
                                 plan.slurm_account.empty() ? "" : fmt::format(", Slurm --account={}", plan.slurm_account),
                                 plan.cluster);
  const auto& type = plan.instance;
  text += fmt::format("  instance    {} ({}, {:g} GB per GPU){}\n", type.id, type.gpu, type.gpu_memory_gb,
                      plan.instance_reasons.empty() ? " as asked (--instance)" : ", recommended:");
  for (const std::string& reason : plan.instance_reasons) text += "                - " + reason + "\n";
  text += fmt::format("  data        {} train and {} val images ({}); model {:.2f} GFLOPs per image\n",
                      workload.train_images, workload.val_images, workload.data_source, workload.gflops_per_image);
  text += fmt::format("  resources   {} node(s) x {} {} (one process each), {} CPUs and {:g} GB per GPU, partition {}{}{}\n",
                      plan.nodes, plan.gpus_per_node, type.is_cpu() ? "CPU process(es)" : "GPU(s)", type.cpus_per_gpu,
                      type.memory_gb_per_gpu, type.slurm.partition,
                      type.slurm.gres_type.empty() ? "" : fmt::format(", --gres=gpu:{}:{}", type.slurm.gres_type, plan.gpus_per_node),
                      type.slurm.constraint.empty() ? "" : fmt::format(", --constraint={}", type.slurm.constraint));
  text += fmt::format("  estimate    {} ({}), {:.2f} credits\n", scheduler::duration_text(plan.estimate.total_seconds),
                      plan.estimate.measured ? "from your past runs" : "from the catalogue", plan.estimate.credits);
  for (const std::string& line : plan.estimate.arithmetic) text += "                " + line + "\n";
  text += fmt::format("  time limit  {} ({}); SIGUSR1 {} s before it: checkpoint, requeue, resume\n",
                      scheduler::format_slurm_time(plan.time_limit_minutes), plan.time_limit_why,
                      plan.scheduler.signal_lead_seconds);
  text += fmt::format("  credits     a hold of about {:.2f} per run (the time limit, {:.3f} h x {} GPU(s) x {:.4g} "
                      "credits/GPU-hour), the run's credit limit\n",
                      plan.hold_credits, plan.hold_hours, plan.gpus, plan.credits_per_gpu_hour);
  text += fmt::format("  run(s)      {}\n", run_dirs.size());
  for (const fs::path& dir : run_dirs) text += "                " + dir.string() + "\n";
  return text;
}

fs::path predicted_run_dir(const fs::path& project_dir, const std::string& name) {
  for (int number = 1; number < 100000; ++number) {
    const fs::path candidate = project_dir / (number == 1 ? name : fmt::format("{}{}", name, number));
    if (!fs::exists(candidate)) return candidate;
  }
  return project_dir / name;
}

fs::path current_shrike_binary() {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (error) fail_internal("cannot read /proc/self/exe to find the shrike binary: {}", error.message());
  return self;
}

}  // namespace shrike::cli
