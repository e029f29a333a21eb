// pipeline/cli/cmd_submit.cpp: `shrike submit EXPERIMENT.yaml [key=value ...] [options]`:
// plan a training job (instance, estimate, time limit), check policy and credits, and
// submit it to Slurm (pipeline/cli/submission.h does the work).
#include <fmt/core.h>

#include "pipeline/cli/command_table.h"
#include "pipeline/cli/submission.h"
#include "pipeline/core/error.h"

namespace shrike::cli {

namespace po = boost::program_options;

namespace {

CommandSpec submit_spec() {
  CommandSpec spec;
  spec.name = "submit";
  spec.usage = "shrike submit [EXPERIMENT.yaml] [key=value ...] [--instance ID] [--gpus N] [--nodes N] [--time HOURS]\n"
               "                     [--account A] [--sweep KEY=V1,V2 ...] [--budget] [--dry-run]";
  spec.description =
      "Submit a training run to Slurm. shrike validates the experiment and the data, plans the job (the\n"
      "instance type: given, or recommended from the dataset and model; the estimated time and cost,\n"
      "with the arithmetic; the time limit), checks the site's policy (one running or pending job per\n"
      "account by default) and your credits (a hold for the run), creates the run folder (state\n"
      "pending; the batch script train.sbatch and the Slurm output go inside it) and runs sbatch.\n"
      "The job checkpoints on SIGUSR1 before its time limit or a preemption, is requeued and resumes\n"
      "on its own. Settings are `shrike train`'s (key=value after the file override it).\n"
      "Without Slurm, submit says so and prints the equivalent `shrike train` command.";
  spec.options.add_options()
      ("args", po::value<std::vector<std::string>>()->value_name("ARG"), "EXPERIMENT.yaml and key=value settings")
      ("instance", po::value<std::string>()->value_name("ID"),
       "instance type of the site catalogue (instances.yaml); default: recommended")
      ("gpus", po::value<int>()->default_value(1)->value_name("N"), "GPUs in all (CPU processes for `cpu`)")
      ("nodes", po::value<int>()->default_value(1)->value_name("N"), "nodes the GPUs are spread over")
      ("time", po::value<double>()->value_name("HOURS"),
       "Slurm time limit of each start (default: the estimate x margin); a job reaching it checkpoints and "
       "is requeued")
      ("account", po::value<std::string>()->value_name("A"),
       "account charged and Slurm --account (default: the experiment's account:, else your user name)")
      ("sweep", po::value<std::vector<std::string>>()->value_name("KEY=V1,V2"),
       "one run per value (repeat for a grid): one Slurm job array, runs in the same project")
      ("budget", po::bool_switch(), "recommend the cheapest GPU (RTX 3090) when --instance is not given")
      ("dry-run", po::bool_switch(), "print the plan and the batch script; create and submit nothing (no Slurm needed)");
  spec.positional.add("args", -1);
  spec.epilog =
      "Examples:\n"
      "  shrike submit configs/experiments/quickstart.yaml data=quickstart/shards --dry-run\n"
      "  shrike submit coco.yaml --instance a100-80gb --gpus 8 --nodes 2\n"
      "  shrike submit exp.yaml --sweep lr0=0.01,0.02 --sweep batch=32,64      (4 runs, one job array)\n"
      "Then: shrike jobs; shrike monitor RUN_DIR; shrike stop JOB; shrike resume JOB; shrike cancel JOB.";
  return spec;
}

}  // namespace

int run_submit(const Args& args) {
  CommandSpec spec = submit_spec();
  auto values = parse_options(spec, args);
  if (!values) return 0;
  const po::variables_map& v = *values;
  SubmitRequest request;
  if (v.count("args")) {
    for (const std::string& arg : v["args"].as<std::vector<std::string>>()) {
      if (arg.find('=') != std::string::npos) {
        request.overrides.push_back(arg);
      } else if (request.experiment_file.empty()) {
        request.experiment_file = arg;
      } else {
        fail_user("shrike submit takes one experiment file; '{}' is a second one (settings are key=value).", arg);
      }
    }
  }
  if (v.count("instance")) request.plan.instance = v["instance"].as<std::string>();
  request.plan.gpus = v["gpus"].as<int>();
  request.plan.nodes = v["nodes"].as<int>();
  if (v.count("time")) {
    request.plan.time_hours = v["time"].as<double>();
    if (!(request.plan.time_hours > 0)) fail_user("--time {} must be a positive number of hours.", request.plan.time_hours);
  }
  if (v.count("account")) request.plan.account = v["account"].as<std::string>();
  if (v.count("sweep")) request.sweeps = v["sweep"].as<std::vector<std::string>>();
  request.plan.budget = v["budget"].as<bool>();
  request.dry_run = v["dry-run"].as<bool>();
  return submit_training(request);
}

}  // namespace shrike::cli
