// tests/unit/test_scheduler.cpp: scheduler/ without a cluster: quoting and validation
// (checked by running bash on the result), the batch script renderer, instance advice,
// the estimate's arithmetic, time limits, the job registry on a real SQLite file, the
// per-account policy, the scheduler section of accounting.yaml, stop requests and the
// resubmission checks. The Slurm side runs against a real test cluster in tests/slurm.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "accounting/instance_catalog.h"
#include "pipeline/core/error.h"
#include "scheduler/instance_advice.h"
#include "scheduler/job_control.h"
#include "scheduler/job_registry.h"
#include "scheduler/run_estimate.h"
#include "scheduler/sbatch_render.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/shell_quote.h"
#include "scheduler/slurm_client.h"
#include "scheduler/submit_policy.h"

namespace shrike::scheduler {
namespace {

namespace fs = std::filesystem;

class ScratchDir {
 public:
  ScratchDir() {
    std::random_device device;
    path_ = fs::temp_directory_path() / ("shrike-scheduler-test-" + std::to_string(device()));
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// stdout of `bash -c SCRIPT`.
std::string bash_output(const std::string& script) {
  const std::string command = "bash -c " + shell_quote(script) + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed");
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

template <typename Call>
std::string user_error_of(Call call) {
  try {
    call();
  } catch (const UserError& error) {
    return error.what();
  }
  return "(no UserError)";
}

// ---- quoting and validation ----------------------------------------------------------

TEST(ShellQuote, AnyTextIsReadBackVerbatimByBash) {
  const ScratchDir dir;
  const std::string marker = (dir.path() / "pwned").string();
  for (const std::string& text : {std::string("x'; rm -rf ~; '"), std::string("$(id)"), std::string("`id`"),
                                 std::string("a b\tc"), std::string("'"), std::string("\\"), std::string("$HOME"),
                                 std::string(""), "$(touch " + marker + ")", std::string("it's \"quoted\"")}) {
    EXPECT_EQ(bash_output("printf %s " + shell_quote(text)), text) << text;
  }
  EXPECT_FALSE(fs::exists(marker));
}

TEST(ShellQuote, RefusesLineBreaks) {
  EXPECT_NE(user_error_of([] { shell_quote("a\nb", "run folder"); }).find("run folder 'a"), std::string::npos);
  EXPECT_NE(user_error_of([] { shell_quote(std::string("a\0b", 3)); }), "(no UserError)");
}

TEST(CheckName, AcceptsPlainNamesAndRefusesShellText) {
  for (const char* good : {"exp", "exp2", "exp-lr0-0.01", "Run_7.b"}) EXPECT_NO_THROW(check_name(good, "run name"));
  EXPECT_NE(user_error_of([] { check_name("x'; rm -rf ~; '", "run name (name=)"); })
                .find("the run name (name=) 'x'; rm -rf ~; '' contains '''"),
            std::string::npos);
  EXPECT_NE(user_error_of([] { check_name("$(id)", "run name"); }).find("contains '$'"), std::string::npos);
  for (const std::string& bad : {std::string(""), std::string(".hidden"), std::string("-x"), std::string("a b"),
                                std::string("a/b"), std::string(101, 'a'), std::string("a\nb")}) {
    EXPECT_THROW(check_name(bad, "run name"), UserError) << bad;
  }
}

TEST(CheckSlurmValue, ConstraintOperatorsOnlyInConstraints) {
  EXPECT_NO_THROW(check_slurm_value("a100&nvlink|h100", "constraint", true, false));
  EXPECT_THROW(check_slurm_value("a100&nvlink", "partition", false, false), UserError);
  EXPECT_THROW(check_slurm_value("gpu;rm", "partition", false, false), UserError);
  EXPECT_THROW(check_slurm_value("gpu x", "partition", false, false), UserError);
  EXPECT_THROW(check_slurm_value("", "partition", false, false), UserError);
  EXPECT_NO_THROW(check_slurm_value("", "Slurm account", false, true));
  EXPECT_THROW(check_slurm_value("--uid=0", "Slurm account", false, true), UserError);
}

TEST(CheckScriptPath, RefusesWhatAnSbatchLineCannotCarry) {
  EXPECT_NO_THROW(check_script_path("/scratch/me/runs-1/exp_2", "project folder"));
  for (const char* bad : {"/tmp/a b", "/tmp/$(id)", "/tmp/100%", "/tmp/it's", "/tmp/a\nb"}) {
    EXPECT_THROW(check_script_path(bad, "project folder"), UserError) << bad;
  }
}

// ---- the batch script ------------------------------------------------------------------

BatchScriptSpec sample_spec() {
  BatchScriptSpec spec;
  spec.job_name = "shrike-exp";
  spec.partition = "gpu";
  spec.gres_type = "a100";
  spec.constraint = "a100_80gb";
  spec.nodes = 2;
  spec.tasks_per_node = 4;
  spec.gpus_per_node = 4;
  spec.cpus_per_task = 12;
  spec.memory_mb_per_node = 4 * 120 * 1024;
  spec.time_limit_minutes = 90;
  spec.signal_lead_seconds = 120;
  spec.output = "/scratch/runs/exp/slurm-%j.out";
  spec.shrike_binary = "/opt/shrike/bin/shrike";
  spec.billed_gpus = 8;
  spec.rate = 1.99;
  spec.instance = "a100-80gb";
  spec.account = "vision";
  spec.slurm_account = "vision";
  spec.runs = {{"single", "/scratch/runs/exp", 12.5}};
  return spec;
}

TEST(RenderSbatch, FillsEveryDirectiveAndIsValidBash) {
  const std::string script = render_sbatch(sample_spec(), sbatch_template_text());
  for (const char* line :
       {"#SBATCH --job-name=shrike-exp\n", "#SBATCH --partition=gpu\n", "#SBATCH --nodes=2\n",
        "#SBATCH --ntasks-per-node=4\n", "#SBATCH --cpus-per-task=12\n", "#SBATCH --mem=491520M\n",
        "#SBATCH --time=01:30:00\n", "#SBATCH --signal=B:USR1@120\n", "#SBATCH --requeue\n",
        "#SBATCH --open-mode=append\n", "#SBATCH --output=/scratch/runs/exp/slurm-%j.out\n",
        "#SBATCH --gres=gpu:a100:4\n", "#SBATCH --constraint=a100_80gb\n", "#SBATCH --account=vision\n",
        "shrike='/opt/shrike/bin/shrike'\n", "export SHRIKE_BILLED_GPUS=8\n",
        "  single) run_dir='/scratch/runs/exp'; credit_limit=12.5 ;;\n", "rate=1.99", "instance='a100-80gb'",
        "account='vision'", "srun --mpi=pmix"}) {
    EXPECT_NE(script.find(line), std::string::npos) << line;
  }
  EXPECT_EQ(script.find("{{"), std::string::npos);
  EXPECT_EQ(script.find("--array"), std::string::npos);
  const ScratchDir dir;
  write_text(dir.path() / "train.sbatch", script);
  EXPECT_EQ(bash_output("bash -n " + (dir.path() / "train.sbatch").string() + " && echo ok"), "ok\n");
  // The #SBATCH block ends before the first command: sbatch reads every directive.
  EXPECT_LT(script.find("#SBATCH --gres"), script.find("set -u"));
}

TEST(RenderSbatch, JobArrayHasOneCasePerRunAndCpuJobsNoGres) {
  BatchScriptSpec spec = sample_spec();
  spec.gres_type = "";
  spec.constraint = "";
  spec.slurm_account = "";
  spec.array = "0-1";
  spec.output = "/scratch/runs/.sweep-exp-1/%a/slurm-%A_%a.out";
  spec.runs = {{"0", "/scratch/runs/exp-lr0-0.01", 3}, {"1", "/scratch/runs/exp-lr0-0.02", 4}};
  const std::string script = render_sbatch(spec, sbatch_template_text());
  EXPECT_NE(script.find("#SBATCH --array=0-1\n"), std::string::npos);
  EXPECT_NE(script.find("  0) run_dir='/scratch/runs/exp-lr0-0.01'; credit_limit=3 ;;\n"), std::string::npos);
  EXPECT_NE(script.find("  1) run_dir='/scratch/runs/exp-lr0-0.02'; credit_limit=4 ;;\n"), std::string::npos);
  EXPECT_EQ(script.find("--gres"), std::string::npos);
  EXPECT_EQ(script.find("#SBATCH --account"), std::string::npos);  // no Slurm account directive
  EXPECT_EQ(script.find("--constraint"), std::string::npos);
}

TEST(RenderSbatch, RefusesBadValuesAndIncompleteTemplates) {
  BatchScriptSpec spec = sample_spec();
  spec.partition = "gpu; rm -rf ~";
  EXPECT_NE(user_error_of([&] { render_sbatch(spec, sbatch_template_text()); }).find("partition"), std::string::npos);
  spec = sample_spec();
  spec.runs = {{"single", "/scratch/my runs/exp", 1}};
  EXPECT_THROW(render_sbatch(spec, sbatch_template_text()), UserError);
  spec = sample_spec();
  spec.output = "/scratch/runs/exp/100%/slurm-%j.out";
  EXPECT_THROW(render_sbatch(spec, sbatch_template_text()), UserError);
  const std::string unknown = sbatch_template_text() + "\necho {{secret}}\n";
  EXPECT_NE(user_error_of([&] { render_sbatch(sample_spec(), unknown); }).find("{{secret}}"), std::string::npos);
  std::string without_requeue_lead = sbatch_template_text();
  const std::size_t at = without_requeue_lead.find("{{signal_lead_seconds}}");
  without_requeue_lead.replace(at, std::string("{{signal_lead_seconds}}").size(), "60");
  const std::size_t again = without_requeue_lead.find("{{signal_lead_seconds}}");
  without_requeue_lead.replace(again, std::string("{{signal_lead_seconds}}").size(), "60");
  EXPECT_NE(user_error_of([&] { render_sbatch(sample_spec(), without_requeue_lead); }).find("lacks {{signal_lead_seconds}}"),
            std::string::npos);
}

TEST(SlurmTime, FormatsAndFloors) {
  EXPECT_EQ(format_slurm_time(7), "00:07:00");
  EXPECT_EQ(format_slurm_time(90), "01:30:00");
  EXPECT_EQ(format_slurm_time(1500), "1-01:00:00");
  // The estimate x margin, but never below min minutes + the signal lead.
  EXPECT_EQ(time_limit_minutes(60, 0, 1.5, 5, 120), 7);
  EXPECT_EQ(time_limit_minutes(3600, 0, 1.5, 5, 120), 90);
  EXPECT_EQ(time_limit_minutes(3600, 0.01, 1.5, 5, 120), 7);  // --time below the floor
  EXPECT_EQ(time_limit_minutes(10, 2, 1.5, 5, 120), 120);     // --time wins over the estimate
  EXPECT_EQ(slurm_elapsed_seconds("1-02:03:04"), 93784);
  EXPECT_EQ(slurm_elapsed_seconds("03:04"), 184);
  EXPECT_EQ(slurm_elapsed_seconds("0:00"), 0);
  EXPECT_EQ(slurm_elapsed_seconds("INVALID"), 0);
}

// ---- advice and estimate -----------------------------------------------------------------

accounting::InstanceCatalog default_catalog() {
  return accounting::load_instance_catalog(fs::path(SHRIKE_SOURCE_CONFIG_DIR) / "instances.yaml");
}

std::string advise(std::size_t images, int batch, int imgsz, int gpus, double gflops, bool budget,
                   const accounting::InstanceCatalog& catalog = default_catalog()) {
  return recommend_instance({images, batch, imgsz, gpus, gflops, budget}, catalog).instance;
}

TEST(InstanceAdvice, FollowsThePlatformRules) {
  EXPECT_EQ(advise(128, 16, 640, 1, 8.7, false), "rtx4090");
  EXPECT_EQ(advise(4999, 16, 640, 1, 8.7, false), "rtx4090");
  EXPECT_EQ(advise(5000, 16, 640, 1, 8.7, false), "a100-40gb");
  EXPECT_EQ(advise(50000, 16, 640, 1, 8.7, false), "a100-40gb");
  EXPECT_EQ(advise(50001, 16, 640, 1, 8.7, false), "a100-80gb");
  EXPECT_EQ(advise(118287, 64, 640, 8, 257.8, false), "h100-80gb");
  EXPECT_EQ(advise(1000, 64, 640, 1, 28.6, false), "a100-80gb");  // large batch per GPU
  EXPECT_EQ(advise(1000, 64, 640, 2, 28.6, false), "rtx4090");   // 32 per GPU
  EXPECT_EQ(advise(1000, 64, 320, 1, 28.6, false), "rtx4090");   // 16 at 640-equivalent
  EXPECT_EQ(advise(1000000, 16, 640, 1, 8.7, true), "rtx3090");  // --budget
  const InstanceAdvice advice = recommend_instance({12000, 16, 640, 1, 8.7, false}, default_catalog());
  ASSERT_EQ(advice.reasons.size(), 1u);
  EXPECT_EQ(advice.reasons[0], "12,000 training images (5,000 to 50,000): A100 40 GB");
}

TEST(InstanceAdvice, SiteWithoutTheIdGetsTheCheapestLargeEnough) {
  accounting::InstanceCatalog catalog = default_catalog();
  std::erase_if(catalog.types, [](const accounting::InstanceType& type) { return type.id == "a100-40gb"; });
  const InstanceAdvice advice = recommend_instance({12000, 16, 640, 1, 8.7, false}, catalog);
  EXPECT_EQ(advice.instance, "l40s");  // 48 GB at 1.14 beats a100-80gb at 1.99
  EXPECT_NE(advice.reasons.back().find("this site has no a100-40gb"), std::string::npos);
}

TEST(RunEstimate, CatalogueArithmetic) {
  const accounting::InstanceCatalog catalog = default_catalog();
  EstimateInput input;
  input.train_images = 1000;
  input.val_images = 300;
  input.epochs = 10;
  input.gpus = 1;
  input.gflops_per_image = 8.7;
  input.instance = &catalog.at("rtx4090");
  input.credits_per_gpu_hour = 0.74;
  input.money_per_gpu_hour = 0.74;
  const RunEstimate estimate = estimate_run(input);
  const double rate = 0.55 * kReferenceGflopsPerSecond / (3 * 8.7);
  EXPECT_FALSE(estimate.measured);
  EXPECT_NEAR(estimate.images_per_second_per_gpu, rate, 1e-9);
  EXPECT_NEAR(estimate.epoch_seconds, 1000 / rate + 300 / (3 * rate), 1e-9);
  EXPECT_NEAR(estimate.total_seconds, 10 * estimate.epoch_seconds + kStartupSeconds, 1e-9);
  EXPECT_NEAR(estimate.credits, estimate.total_seconds / 3600 * 0.74, 1e-12);
  ASSERT_GE(estimate.arithmetic.size(), 4u);
  EXPECT_NE(estimate.arithmetic[0].find("from the catalogue"), std::string::npos);
  // Two GPUs: twice the images per second at 90% efficiency.
  input.gpus = 2;
  EXPECT_NEAR(estimate_run(input).epoch_seconds, (1000 / rate + 300 / (3 * rate)) / (2 * kMultiGpuEfficiency), 1e-9);
  // Timed training lasts what it says.
  input.gpus = 1;
  input.time_hours = 0.5;
  const RunEstimate timed = estimate_run(input);
  EXPECT_NEAR(timed.total_seconds, 1800 + kStartupSeconds, 1e-9);
  EXPECT_EQ(timed.epochs, static_cast<int>(1800 / estimate.epoch_seconds));
}

TEST(RunEstimate, MeasuredThroughputOnTheSameInstanceWins) {
  const accounting::InstanceCatalog catalog = default_catalog();
  EstimateInput input;
  input.train_images = 1000;
  input.epochs = 1;
  input.gflops_per_image = 17.4;
  input.instance = &catalog.at("rtx4090");
  // Work rates 100 x 3 x 8.7 = 2610, 20 x 3 x 28.6 = 1716, 300 x 3 x 8.7 = 7830 GFLOP/s: median 2610.
  input.past = {{"runs/a", "rtx4090", 100, 8.7}, {"runs/b", "rtx4090", 20, 28.6}, {"runs/c", "rtx4090", 300, 8.7},
                {"runs/d", "h100-80gb", 5000, 8.7}};
  const RunEstimate estimate = estimate_run(input);
  EXPECT_TRUE(estimate.measured);
  EXPECT_NEAR(estimate.images_per_second_per_gpu, 2610 / (3 * 17.4), 1e-9);
  EXPECT_NE(estimate.arithmetic[0].find("3 past run(s) of yours on rtx4090"), std::string::npos);
}

// ---- registry and policy ------------------------------------------------------------------

JobRecord job(const std::string& id, const std::string& account, const std::string& state,
              const std::string& array = "") {
  JobRecord record;
  record.cluster = "test";
  record.job_id = id;
  record.array_job_id = array;
  record.account = account;
  record.user = account;
  record.project = "p";
  record.run = "exp" + id;
  record.run_dir = "/runs/p/exp" + id;
  record.instance = "rtx4090";
  record.state = state;
  return record;
}

TEST(JobRegistry, RecordsFindsAndUpdatesJobs) {
  const ScratchDir dir;
  const fs::path path = dir.path() / "home" / "jobs.db";
  {
    JobRegistry registry(path);
    registry.add({job("100", "alice", "pending")});
    registry.add({job("200_0", "alice", "pending", "200"), job("200_1", "alice", "running", "200")});
  }
  JobRegistry registry(path);  // reopened: persisted
  ASSERT_EQ(registry.find("100").size(), 1u);
  EXPECT_EQ(registry.find("200").size(), 2u);  // every task of the array
  ASSERT_EQ(registry.find("200_1").size(), 1u);
  EXPECT_EQ(registry.find("200_1")[0].state, "running");
  EXPECT_TRUE(registry.find("300").empty());
  registry.update_state(registry.find("200_0")[0], "completed", "", 42, "201");
  const JobRecord updated = registry.find("201")[0];  // by Slurm's own id too
  EXPECT_EQ(updated.job_id, "200_0");
  EXPECT_EQ(updated.state, "completed");
  EXPECT_EQ(updated.elapsed_seconds, 42);
  EXPECT_EQ(registry.active().size(), 2u);
  ASSERT_TRUE(registry.latest_for_run("/runs/p/exp100"));
  registry.mark_stop_requested(registry.find("100")[0], "stop requested by alice");
  EXPECT_TRUE(registry.find("100")[0].stop_requested);
  EXPECT_TRUE(is_active_state("pending"));
  EXPECT_TRUE(is_active_state("completing"));
  EXPECT_FALSE(is_active_state("completed"));
  EXPECT_FALSE(is_active_state("ended"));
}

TEST(SubmitPolicy, OneActiveJobPerAccountAndAnArrayCountsOnce) {
  const ScratchDir dir;
  JobRegistry registry(dir.path() / "jobs.db");
  SchedulerConfig config;  // default: 1
  EXPECT_NO_THROW(check_active_job_limit(registry, "alice", config));
  registry.add({job("1", "alice", "completed"), job("2", "bob", "running")});
  EXPECT_NO_THROW(check_active_job_limit(registry, "alice", config));
  registry.add({job("3_0", "alice", "running", "3"), job("3_1", "alice", "pending", "3")});
  const std::string refusal = user_error_of([&] { check_active_job_limit(registry, "alice", config); });
  EXPECT_NE(refusal.find("account 'alice' already has 1 running or pending training job(s)"), std::string::npos)
      << refusal;
  EXPECT_NE(refusal.find("shrike stop JOB"), std::string::npos);
  config.max_active_jobs_per_account = 2;
  EXPECT_NO_THROW(check_active_job_limit(registry, "alice", config));  // the array is one submission
  config.max_active_jobs_per_account = 0;
  EXPECT_NO_THROW(check_active_job_limit(registry, "bob", config));  // 0: no limit
}

TEST(SchedulerConfig, ReadsTheSchedulerSectionOfAccountingYaml) {
  const ScratchDir dir;
  EXPECT_EQ(load_scheduler_config(dir.path() / "missing.yaml").max_active_jobs_per_account, 1);
  write_text(dir.path() / "a.yaml",
             "currency: USD\nscheduler:\n  max_active_jobs_per_account: 3\n  min_time_limit_minutes: 1\n"
             "  signal_lead_seconds: 30\n  time_margin: 2\n");
  const SchedulerConfig config = load_scheduler_config(dir.path() / "a.yaml");
  EXPECT_EQ(config.max_active_jobs_per_account, 3);
  EXPECT_EQ(config.min_time_limit_minutes, 1);
  EXPECT_EQ(config.signal_lead_seconds, 30);
  EXPECT_EQ(config.time_margin, 2);
  write_text(dir.path() / "b.yaml", "scheduler:\n  max_active_jobs_per_account: -1\n");
  EXPECT_NE(user_error_of([&] { load_scheduler_config(dir.path() / "b.yaml"); }).find("b.yaml line 2: "
                                                                                     "scheduler.max_active_jobs_per_account"),
            std::string::npos);
  write_text(dir.path() / "c.yaml", "scheduler:\n  max_jobs: 2\n");
  EXPECT_NE(user_error_of([&] { load_scheduler_config(dir.path() / "c.yaml"); }).find("scheduler.max_jobs is not"),
            std::string::npos);
}

// ---- stop requests and resubmission checks --------------------------------------------------

TEST(JobControl, StopRequestsAndResubmissionChecks) {
  const ScratchDir dir;
  const fs::path run = dir.path() / "runs" / "exp";
  fs::create_directories(run / "weights");
  write_stop_request(run, "stop", "12", "alice");
  std::ifstream in(run / kStopRequestFile);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"action\": \"stop\""), std::string::npos);
  EXPECT_NE(text.find("\"job_id\": \"12\""), std::string::npos);
  clear_stop_request(run);
  EXPECT_FALSE(fs::exists(run / kStopRequestFile));
  EXPECT_THROW(write_stop_request(dir.path() / "gone", "stop", "12", "alice"), UserError);

  JobRegistry registry(dir.path() / "jobs.db");
  EXPECT_NE(user_error_of([&] { check_resumable(registry, run, "stopped"); }).find("no weights/last.h5"),
            std::string::npos);
  write_text(run / "weights" / "last.h5", "checkpoint");
  EXPECT_NO_THROW(check_resumable(registry, run, "stopped"));
  EXPECT_NE(user_error_of([&] { check_resumable(registry, run, "completed"); }).find("has completed"),
            std::string::npos);
  JobRecord active = job("7", "alice", "running");
  active.run_dir = run.string();
  registry.add({active});
  EXPECT_NE(user_error_of([&] { check_resumable(registry, run, "running"); }).find("job 7 of"), std::string::npos);
}

}  // namespace
}  // namespace shrike::scheduler
