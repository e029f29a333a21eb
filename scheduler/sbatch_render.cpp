// scheduler/sbatch_render.cpp: filling slurm/train.sbatch; every value checked or quoted.
#include "scheduler/sbatch_render.h"

#include <fmt/core.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "pipeline/core/config_dir.h"
#include "pipeline/core/error.h"
#include "scheduler/sbatch_template.h"
#include "scheduler/shell_quote.h"

namespace shrike::scheduler {

namespace fs = std::filesystem;

namespace {

fs::path site_template() { return config_dir() / "train.sbatch"; }

void check_range(long long value, long long lo, long long hi, std::string_view what) {
  if (value < lo || value > hi) fail_user("{} is {}; it must be between {} and {}.", what, value, lo, hi);
}

void check_array(const std::string& array) {
  const bool ok = !array.empty() && array.find_first_not_of("0123456789-,") == std::string::npos &&
                  std::isdigit(static_cast<unsigned char>(array.front())) &&
                  std::isdigit(static_cast<unsigned char>(array.back()));
  if (!ok) fail_internal("job array range '{}' is not of the form 0-N", array);
}

std::string number_text(double value, std::string_view what) {
  if (!std::isfinite(value) || value < 0) fail_internal("{} {} is not a non-negative number", what, value);
  return fmt::format("{}", value);
}

// `path` with Slurm's filename patterns %j, %A and %a (ours) replaced by a plain letter, so
// that any other '%' is refused by check_script_path.
fs::path without_slurm_patterns(const fs::path& path) {
  const std::string text = path.string();
  std::string plain;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool pattern = text[i] == '%' && i + 1 < text.size() && (text[i + 1] == 'j' || text[i + 1] == 'A' ||
                                                                    text[i + 1] == 'a');
    plain.push_back(pattern ? 'X' : text[i]);
    if (pattern) ++i;
  }
  return plain;
}

void check_spec(const BatchScriptSpec& spec) {
  check_name(spec.job_name, "job name");
  check_slurm_value(spec.partition, "partition (instances.yaml slurm.partition)", false, false);
  check_slurm_value(spec.slurm_account, "Slurm account (--account)", false, true);
  check_slurm_value(spec.gres_type, "GRES type (instances.yaml slurm.gres_type)", false, true);
  check_slurm_value(spec.constraint, "constraint (instances.yaml slurm.constraint)", true, true);
  check_name(spec.instance, "instance id");
  check_name(spec.account, "account");
  check_script_path(without_slurm_patterns(spec.output), "Slurm output file");
  check_range(spec.nodes, 1, 100000, "--nodes");
  check_range(spec.tasks_per_node, 1, 4096, "tasks per node");
  check_range(spec.gpus_per_node, 0, 4096, "GPUs per node");
  check_range(spec.cpus_per_task, 1, 4096, "CPUs per task");
  check_range(spec.memory_mb_per_node, 1, 1LL << 40, "memory per node (MB)");
  check_range(spec.time_limit_minutes, 1, 366 * 24 * 60, "time limit (minutes)");
  check_range(spec.signal_lead_seconds, 10, 3600, "signal lead (seconds)");
  check_range(spec.billed_gpus, 1, 1000000, "billed GPUs");
  if (!spec.array.empty()) check_array(spec.array);
  if (!spec.shrike_binary.is_absolute()) fail_internal("shrike binary {} is not absolute", spec.shrike_binary.string());
  if (spec.runs.empty()) fail_internal("a batch script without runs");
  if (spec.array.empty() && (spec.runs.size() != 1 || spec.runs[0].task != "single")) {
    fail_internal("a batch script with {} runs but no array", spec.runs.size());
  }
}

std::string optional_directives(const BatchScriptSpec& spec) {
  std::string lines;
  auto add = [&lines](const std::string& line) { lines += (lines.empty() ? "" : "\n") + line; };
  if (!spec.gres_type.empty()) add(fmt::format("#SBATCH --gres=gpu:{}:{}", spec.gres_type, spec.gpus_per_node));
  if (!spec.constraint.empty()) add(fmt::format("#SBATCH --constraint={}", spec.constraint));
  if (!spec.slurm_account.empty()) add(fmt::format("#SBATCH --account={}", spec.slurm_account));
  if (!spec.array.empty()) add(fmt::format("#SBATCH --array={}", spec.array));
  return lines;
}

std::string run_cases(const BatchScriptSpec& spec) {
  std::string cases;
  for (const ScriptRun& run : spec.runs) {
    if (run.task != "single" && run.task.find_first_not_of("0123456789") != std::string::npos) {
      fail_internal("array task '{}' is not a number", run.task);
    }
    if (!run.run_dir.is_absolute()) fail_internal("run folder {} is not absolute", run.run_dir.string());
    check_script_path(run.run_dir, "run folder");
    cases += fmt::format("  {}) run_dir={}; credit_limit={} ;;\n", run.task, shell_quote(run.run_dir.string(), "run folder"),
                         number_text(run.credit_limit, "credit limit"));
  }
  cases.pop_back();  // the template's line break follows
  return cases;
}

std::map<std::string, std::string> placeholder_values(const BatchScriptSpec& spec) {
  return {
      {"job_name", spec.job_name},
      {"partition", spec.partition},
      {"nodes", std::to_string(spec.nodes)},
      {"tasks_per_node", std::to_string(spec.tasks_per_node)},
      {"cpus_per_task", std::to_string(spec.cpus_per_task)},
      {"memory_per_node", fmt::format("{}M", spec.memory_mb_per_node)},
      {"time_limit", format_slurm_time(spec.time_limit_minutes)},
      {"signal_lead_seconds", std::to_string(spec.signal_lead_seconds)},
      {"output", spec.output.string()},
      {"optional_directives", optional_directives(spec)},
      {"shrike", shell_quote(spec.shrike_binary.string(), "shrike binary path")},
      {"billed_gpus", std::to_string(spec.billed_gpus)},
      {"run_cases", run_cases(spec)},
      {"rate", number_text(spec.rate, "rate")},
      {"instance", shell_quote(spec.instance, "instance id")},
      {"account", shell_quote(spec.account, "account")},
  };
}

}  // namespace

std::string format_slurm_time(int minutes) {
  const int days = minutes / (24 * 60);
  const int hours = (minutes / 60) % 24;
  const int mins = minutes % 60;
  if (days > 0) return fmt::format("{}-{:02}:{:02}:00", days, hours, mins);
  return fmt::format("{:02}:{:02}:00", hours, mins);
}

std::string sbatch_template_text() {
  const fs::path site = site_template();
  if (!fs::exists(site)) return kBuiltinSbatchTemplate;
  std::ifstream in(site);
  if (!in) fail_user("cannot read the site's batch script template {}: check its permissions.", site.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string sbatch_template_origin() {
  return fs::exists(site_template()) ? site_template().string() : std::string("built-in slurm/train.sbatch");
}

std::string render_sbatch(const BatchScriptSpec& spec, std::string_view template_text) {
  check_spec(spec);
  const std::map<std::string, std::string> values = placeholder_values(spec);
  std::set<std::string> used;
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t open = template_text.find("{{", pos);
    if (open == std::string_view::npos) break;
    const std::size_t close = template_text.find("}}", open + 2);
    if (close == std::string_view::npos) fail_user("batch script template: '{{{{' without '}}}}' at offset {}", open);
    const std::string name(template_text.substr(open + 2, close - open - 2));
    const auto found = values.find(name);
    if (found == values.end()) {
      fail_user("the batch script template ({}) uses {{{{{}}}}}, which shrike does not fill. Known: job_name, "
                "partition, nodes, tasks_per_node, cpus_per_task, memory_per_node, time_limit, signal_lead_seconds, "
                "output, optional_directives, shrike, billed_gpus, run_cases, rate, instance, account.",
                sbatch_template_origin(), name);
    }
    out.append(template_text.substr(pos, open - pos));
    out += found->second;
    used.insert(name);
    pos = close + 2;
  }
  out.append(template_text.substr(pos));
  for (const auto& [name, value] : values) {
    if (!used.count(name)) {
      fail_user("the batch script template ({}) lacks {{{{{}}}}}; copy slurm/train.sbatch and keep every placeholder.",
                sbatch_template_origin(), name);
    }
  }
  return out;
}

}  // namespace shrike::scheduler
