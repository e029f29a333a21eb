// scheduler/sbatch_render.h
//
// The batch script of a submission: slurm/train.sbatch (built in, or the site's copy in
// the configuration folder) with its {{placeholders}} replaced. Every value is validated
// or shell-quoted here (scheduler/shell_quote.h), in one place, so no caller can put raw
// text into a script: names, Slurm values and paths are checked against small character
// sets, and the values of shell variables are single-quoted. A placeholder the renderer
// does not know, or one it fills that the template lacks, is an error (a site template
// cannot silently drop --requeue or the signal).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace shrike::scheduler {

// One run the script trains: the whole job, or one task of a job array.
struct ScriptRun {
  std::string task = "single";          // "single", or the array index ("0", "1", ...)
  std::filesystem::path run_dir;        // absolute
  double credit_limit = 0;              // credits the trainer may spend (the hold's)
};

struct BatchScriptSpec {
  std::string job_name;                 // a name (check_name)
  std::string partition, slurm_account; // Slurm values; slurm_account may be empty
  std::string gres_type;                // "" = no GPUs (--gres is left out)
  std::string constraint;               // may be empty
  int nodes = 1;
  int tasks_per_node = 1;               // = GPUs per node (one process per GPU)
  int gpus_per_node = 0;
  int cpus_per_task = 1;
  std::int64_t memory_mb_per_node = 1024;
  int time_limit_minutes = 60;
  int signal_lead_seconds = 120;
  std::filesystem::path output;         // absolute; may hold %j, %A, %a
  std::string array;                    // "0-3" for a sweep, "" for one run
  std::filesystem::path shrike_binary;  // absolute: the binary that renders
  int billed_gpus = 1;                  // all GPUs (or CPU processes) of the job
  double rate = 0;                      // credits per GPU-hour
  std::string instance, account;        // shrike's instance id and account
  std::vector<ScriptRun> runs;
};

// slurm.conf-style time: "HH:MM:SS", or "D-HH:MM:SS" from one day on.
std::string format_slurm_time(int minutes);

// The template in force: $SHRIKE_CONFIG_DIR/train.sbatch (or the config folder's) when
// present, else the built-in copy of slurm/train.sbatch.
std::string sbatch_template_text();
std::string sbatch_template_origin();  // the file, or "built-in slurm/train.sbatch"

// Renders `spec` into `template_text`. Throws UserError naming a refused value.
std::string render_sbatch(const BatchScriptSpec& spec, std::string_view template_text);

}  // namespace shrike::scheduler
