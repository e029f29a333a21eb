// scheduler/slurm_client.cpp: sbatch, squeue, scancel and Slurm's job records.
#include "scheduler/slurm_client.h"

#include <fmt/core.h>

#include <sstream>

#include "accounting/accounting_config.h"
#include "accounting/child_process.h"
#include "accounting/slurm_conf.h"
#include "accounting/slurm_record.h"
#include "pipeline/core/error.h"

namespace shrike::scheduler {

namespace fs = std::filesystem;

namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) text.pop_back();
  return text;
}

// Runs a Slurm command; its output, or a UserError naming it and quoting Slurm.
std::string run_slurm(const std::string& program, const std::vector<std::string>& args, const std::string& doing) {
  const std::optional<accounting::ProcessResult> result = accounting::run_process(program, args);
  if (!result) {
    fail_user("cannot run {} to {}: it is not installed or not in PATH (Slurm's client commands).", program, doing);
  }
  if (result->exit_code != 0) {
    std::string message = trimmed(result->err.empty() ? result->out : result->err);
    fail_user("{} failed to {} (exit {}): {}", program, doing, result->exit_code,
              message.empty() ? std::string("no message") : message);
  }
  return result->out;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) parts.push_back(part);
  return parts;
}

}  // namespace

bool slurm_installed() { return !accounting::find_in_path("sbatch").empty(); }

std::string sbatch_submit(const fs::path& script, const fs::path& workdir) {
  const std::string out = trimmed(run_slurm(
      "sbatch", {"--parsable", "--chdir=" + workdir.string(), script.string()}, "submit " + script.string()));
  // --parsable prints "jobid" or "jobid;cluster" (possibly after warnings on earlier lines).
  const std::vector<std::string> lines = split(out, '\n');
  const std::string last = lines.empty() ? std::string() : lines.back();
  const std::string id = last.substr(0, last.find(';'));
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos) {
    fail_user("sbatch accepted {} but printed no job id ('{}'); check `squeue --me`.", script.string(), out);
  }
  return id;
}

std::map<std::string, LiveJob> squeue_all_jobs() {
  const std::string out =
      run_slurm("squeue", {"--noheader", "--array", "--states=all", "--format=%i|%A|%T|%M|%r"}, "list jobs");
  std::map<std::string, LiveJob> jobs;
  for (const std::string& line : split(out, '\n')) {
    const std::vector<std::string> cells = split(line, '|');
    if (cells.size() < 5) continue;
    LiveJob job{cells[0], cells[1], cells[2], cells[3], cells[4]};
    jobs[job.job_id] = job;
  }
  return jobs;
}

void scancel_job(const std::string& job_id) { run_slurm("scancel", {job_id}, "cancel job " + job_id); }

void signal_job_steps(const std::string& job_id, const std::string& signal) {
  run_slurm("scancel", {"--signal=" + signal, job_id}, "send " + signal + " to job " + job_id);
}

std::string slurm_cluster_name() {
  const accounting::SlurmConf conf = accounting::read_slurm_conf(accounting::slurm_conf_path());
  const std::optional<std::string> name = conf.get("ClusterName");
  return name && !name->empty() ? *name : std::string("slurm");
}

std::optional<EndedJob> ended_job_record(const std::string& raw_job_id) {
  try {
    const accounting::AccountingConfig config = accounting::load_accounting_config();
    const accounting::SlurmRecordSource source = accounting::find_slurm_record_source(config, "", "");
    if (!source.available()) return std::nullopt;
    const std::vector<accounting::SlurmJobRecord> records = accounting::read_slurm_records(source, raw_job_id);
    if (records.empty()) return std::nullopt;
    EndedJob ended;
    ended.state = records.back().state;
    for (const auto& record : records) ended.elapsed_seconds += static_cast<double>(record.elapsed());
    return ended;
  } catch (const UserError&) {
    return std::nullopt;  // no readable record: the caller falls back to the run folder
  }
}

double slurm_elapsed_seconds(const std::string& text) {
  long days = 0;
  std::string rest = text;
  if (const std::size_t dash = rest.find('-'); dash != std::string::npos) {
    days = std::atol(rest.substr(0, dash).c_str());
    rest = rest.substr(dash + 1);
  }
  double seconds = 0;
  for (const std::string& part : split(rest, ':')) {
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos) return 0;
    seconds = seconds * 60 + std::atol(part.c_str());
  }
  return seconds + days * 86400.0;
}

}  // namespace shrike::scheduler
