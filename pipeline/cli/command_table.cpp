// pipeline/cli/command_table.cpp: the subcommand list, `shrike --help`, dispatch and
// the mapping of failures to exit codes (0 ok, 1 user error, 2 internal, 130 interrupted).
#include "pipeline/cli/command_table.h"

#include <fmt/core.h>

#include <array>
#include <iostream>
#include <sstream>

#include "build_info.h"
#include "pipeline/core/error.h"
#include "pipeline/core/interrupt.h"
#include "kernels/device.h"

namespace shrike::cli {

namespace po = boost::program_options;

namespace {

constexpr std::array kSubcommands{
    Subcommand{"synth", "write a deterministic synthetic detection dataset (YOLO format)", run_synth},
    Subcommand{"shard", "decode, resize and validate a YOLO dataset into HDF5 shards", run_shard},
    Subcommand{"train", "train a detector from an experiment (YAML and/or key=value settings)", run_train},
    Subcommand{"val", "validate a weights or checkpoint file on a dataset", run_val},
    Subcommand{"predict", "detect objects in images and folders with a weights file (JSON lines)", run_predict},
    Subcommand{"submit", "submit training to Slurm: plan, estimate, credit hold, sbatch (--dry-run)", run_submit},
    Subcommand{"jobs", "your Slurm training jobs: state, epoch, mAP, cost so far", run_jobs},
    Subcommand{"stop", "stop a Slurm job with a checkpoint (resumable)", run_stop},
    Subcommand{"cancel", "cancel a Slurm job (scancel)", run_cancel},
    Subcommand{"resume", "continue a stopped, preempted or paused run exactly (here or on Slurm)", run_resume},
    Subcommand{"monitor", "follow runs live in the terminal: progress, ETA, loss and mAP curves", run_monitor},
    Subcommand{"compare", "compare runs: best mAP, time and the settings that differ; --plot", run_compare},
    Subcommand{"serve", "web dashboard: projects, live run charts, comparison, credits (read only)", run_serve},
    Subcommand{"export", "export weights to ONNX (deployment) or safetensors (PyTorch)", run_export},
    Subcommand{"import", "import a safetensors / HDF5 state dict trained elsewhere as shrike weights", run_import},
    Subcommand{"model", "a model's layers, parameter count and GFLOPs (model info)", run_model},
    Subcommand{"debug", "one forward/backward step on a fixed batch, for parity with PyTorch", run_debug},
    Subcommand{"credits", "an account's credits: balance, history; topup and grant (admins)", run_credits},
    Subcommand{"accounting", "charge usage (settle), reports, reconcile with Slurm, ledger backup", run_accounting},
};

void print_top_help() {
  fmt::print(
      "shrike {}: train YOLO object detectors on GPU clusters.\n\n"
      "usage: shrike <command> [options]     (shrike <command> --help for each)\n\n"
      "commands:\n",
      kVersion);
  for (const auto& command : kSubcommands) fmt::print("  {:<11} {}\n", command.name, command.summary);
  fmt::print(
      "\noptions:\n"
      "  -h, --help     this help\n"
      "  --version      version, git commit and backends\n\n"
      "exit codes: 0 ok, 1 bad input (the message says what to fix), 2 internal error,\n"
      "            130 interrupted.\n");
}

void print_version() {
  fmt::print("shrike {} (git {})\nbackends: cpu{}\n", kVersion, kGitCommit,
             kBuiltWithCuda ? fmt::format(", cuda ({} device(s) visible)", kernels::cuda_device_count())
                            : std::string());
}

int dispatch(const Args& argv) {
  if (argv.empty() || argv[0] == "-h" || argv[0] == "--help" || argv[0] == "help") {
    if (argv.size() >= 2 && argv[0] == "help") return dispatch({argv[1], "--help"});
    print_top_help();
    return argv.empty() ? kExitUserError : kExitOk;
  }
  if (argv[0] == "--version" || argv[0] == "version") {
    print_version();
    return kExitOk;
  }
  for (const auto& command : kSubcommands) {
    if (argv[0] == command.name) return command.run(Args(argv.begin() + 1, argv.end()));
  }
  std::string known;
  for (const auto& command : kSubcommands) known += std::string(known.empty() ? "" : ", ") + command.name;
  fail_user("unknown command '{}'. Commands: {}. Run `shrike --help`.", argv[0], known);
}

}  // namespace

std::span<const Subcommand> subcommands() { return kSubcommands; }

std::optional<po::variables_map> parse_options(CommandSpec& spec, const Args& args) {
  spec.options.add_options()("help,h", "show this help");
  po::variables_map values;
  try {
    po::store(po::command_line_parser(args).options(spec.options).positional(spec.positional).run(), values);
    if (values.count("help")) {
      std::ostringstream text;
      text << "usage: " << spec.usage << "\n\n" << spec.description << "\n\n" << spec.options;
      if (!spec.epilog.empty()) text << "\n" << spec.epilog << "\n";
      std::cout << text.str();
      return std::nullopt;
    }
    po::notify(values);
  } catch (const po::error& error) {
    fail_user("shrike {}: {}. Run `shrike {} --help` for the options.", spec.name, error.what(), spec.name);
  }
  return values;
}

int run_cli(int argc, char** argv) {
  install_interrupt_handlers();
  Args args(argv + 1, argv + argc);
  try {
    return dispatch(args);
  } catch (const UserError& error) {
    fmt::print(stderr, "error: {}\n", error.what());
    return kExitUserError;
  } catch (const Interrupted&) {
    fmt::print(stderr, "interrupted: stopped cleanly; nothing half-written was left behind.\n");
    return kExitInterrupted;
  } catch (const std::exception& error) {
    fmt::print(stderr,
               "internal error: {}\nThis is a bug in shrike {} (git {}); please report it with the "
               "command you ran.\n",
               error.what(), kVersion, kGitCommit);
    return kExitInternal;
  }
}

}  // namespace shrike::cli
