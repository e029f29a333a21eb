// pipeline/cli/command_table.h
//
// The subcommands of `shrike` (git-style), their one-line summaries for `shrike --help`,
// and the shared option parsing that gives every subcommand `--help`, the same error
// wording for bad options, and the exit codes of pipeline/core/error.h.
#pragma once

#include <boost/program_options.hpp>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace shrike::cli {

using Args = std::vector<std::string>;

struct Subcommand {
  const char* name;
  const char* summary;
  int (*run)(const Args& args);
};

std::span<const Subcommand> subcommands();

// Runs `shrike ARGS...`: dispatch, error reporting, exit code.
int run_cli(int argc, char** argv);

// What one subcommand accepts, for parse_options.
struct CommandSpec {
  std::string name;         // "shard"
  std::string usage;        // "shrike shard DATA.yaml --out DIR [options]"
  std::string description;  // a paragraph printed under the usage line
  boost::program_options::options_description options{"Options"};
  boost::program_options::positional_options_description positional;
  std::string epilog;       // examples, printed after the options
};

// Parses `args` against `spec` (adds --help). Returns nullopt after printing the help;
// throws UserError naming the bad option and pointing at --help otherwise.
std::optional<boost::program_options::variables_map> parse_options(CommandSpec& spec, const Args& args);

// Subcommand entry points (one file each).
int run_synth(const Args& args);
int run_shard(const Args& args);
int run_model(const Args& args);
int run_debug(const Args& args);
int run_train(const Args& args);
int run_val(const Args& args);
int run_predict(const Args& args);
int run_resume(const Args& args);
int run_monitor(const Args& args);
int run_compare(const Args& args);
int run_submit(const Args& args);   // cmd_submit.cpp
int run_jobs(const Args& args);     // cmd_jobs.cpp
int run_stop(const Args& args);     // cmd_job_control.cpp
int run_cancel(const Args& args);   // cmd_job_control.cpp
int run_credits(const Args& args);      // cmd_credits.cpp
int run_accounting(const Args& args);   // cmd_accounting.cpp
int run_export(const Args& args);
int run_import(const Args& args);
int run_debug_forward(const Args& args);  // `shrike debug forward` (cmd_debug.cpp dispatches)
int run_debug_bench_step(const Args& args);  // `shrike debug bench-step` (cmd_debug.cpp dispatches)
int run_serve(const Args& args);          // cmd_serve.cpp

}  // namespace shrike::cli
