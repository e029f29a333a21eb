// accounting/slurm_record.cpp: jobcomp/filetxt lines and sacct --parsable2 tables.
#include "accounting/slurm_record.h"

#include <fmt/core.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "accounting/child_process.h"
#include "accounting/slurm_conf.h"
#include "accounting/time_text.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

namespace {

// "KEY=value" tokens; a value may contain spaces (a job Name), so a token that does not
// look like "Key=" continues the previous value.
std::map<std::string, std::string> key_values(const std::string& line) {
  std::map<std::string, std::string> values;
  std::istringstream in(line);
  std::string token, last_key;
  while (in >> token) {
    const auto equals = token.find('=');
    const bool is_key = equals != std::string::npos && equals > 0 &&
                        token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == equals;
    if (is_key) {
      last_key = token.substr(0, equals);
      values[last_key] = token.substr(equals + 1);
    } else if (!last_key.empty()) {
      values[last_key] += " " + token;
    }
  }
  return values;
}

std::int64_t slurm_time(const std::string& text) {
  if (text.empty() || text == "Unknown" || text == "None" || text == "N/A") return 0;
  return parse_slurm_local_time(text).value_or(0);
}

// "alice(1000)" -> "alice"
std::string user_of(const std::string& text) { return text.substr(0, text.find('(')); }

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> fields;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, separator)) fields.push_back(field);
  if (!line.empty() && line.back() == separator) fields.emplace_back();
  return fields;
}

}  // namespace

bool SlurmJobRecord::final_state() const {
  static const std::set<std::string> kNotFinal = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD",
                                                  "RESIZING", "SUSPENDED", "PREEMPTED", "CONFIGURING", "COMPLETING"};
  const std::string first = state.substr(0, state.find(' '));  // "CANCELLED by 0"
  return !kNotFinal.count(first);
}

std::optional<SlurmJobRecord> parse_jobcomp_line(const std::string& line) {
  const auto values = key_values(line);
  const auto job = values.find("JobId");
  if (job == values.end() || job->second.empty()) return std::nullopt;
  SlurmJobRecord record;
  record.job_id = job->second;
  auto get = [&](const char* key) {
    const auto found = values.find(key);
    return found == values.end() ? std::string() : found->second;
  };
  record.cluster = get("Cluster");
  record.user = user_of(get("UserId"));
  record.account = get("Account");
  record.partition = get("Partition");
  record.state = get("JobState");
  record.start = slurm_time(get("StartTime"));
  record.end = slurm_time(get("EndTime"));
  return record;
}

std::vector<SlurmJobRecord> read_jobcomp_log(const fs::path& file) {
  std::ifstream in(file);
  if (!in) {
    fail_user("cannot read the Slurm job completion log {} ({}). Settlement needs Slurm's record: run it as "
              "SlurmUser, root or an admin who may read the log, or name it with --jobcomp.",
              file.string(), fs::exists(file) ? "permission denied" : "it does not exist");
  }
  std::vector<SlurmJobRecord> records;
  std::string line;
  while (std::getline(in, line)) {
    if (auto record = parse_jobcomp_line(line)) records.push_back(std::move(*record));
  }
  return records;
}

std::vector<SlurmJobRecord> parse_sacct_parsable2(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line)) return {};
  const std::vector<std::string> header = split(line, '|');
  std::map<std::string, std::size_t> column;
  for (std::size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
  const std::string id_column = column.count("JobIDRaw") ? "JobIDRaw" : "JobID";
  for (const char* required : {"State", "Start", "End"}) {
    if (!column.count(required) || !column.count(id_column)) {
      fail_user("the sacct output lacks the '{}' column; produce it with `sacct --parsable2 -X -D "
                "--format=JobIDRaw,Cluster,User,Account,Partition,State,Start,End`.",
                column.count(id_column) ? required : id_column.c_str());
    }
  }
  std::vector<SlurmJobRecord> records;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> fields = split(line, '|');
    auto get = [&](const char* key) {
      const auto found = column.find(key);
      return found == column.end() || found->second >= fields.size() ? std::string() : fields[found->second];
    };
    SlurmJobRecord record;
    record.job_id = get(id_column.c_str());
    if (record.job_id.empty() || record.job_id.find('.') != std::string::npos) continue;  // job steps
    record.cluster = get("Cluster");
    record.user = get("User");
    record.account = get("Account");
    record.partition = get("Partition");
    record.state = get("State");
    record.start = slurm_time(get("Start"));
    record.end = slurm_time(get("End"));
    records.push_back(std::move(record));
  }
  return records;
}

std::string SlurmRecordSource::describe() const {
  if (!sacct_file.empty()) return "sacct output " + sacct_file.string();
  if (!jobcomp_log.empty()) return "jobcomp log " + jobcomp_log.string();
  if (live_sacct) return "sacct";
  return "no Slurm record (no jobcomp log or sacct configured)";
}

SlurmRecordSource find_slurm_record_source(const AccountingConfig& config, const std::string& jobcomp_option,
                                           const std::string& sacct_file_option) {
  SlurmRecordSource source;
  if (!sacct_file_option.empty()) {
    source.sacct_file = sacct_file_option;
    return source;
  }
  const SlurmConf conf = read_slurm_conf(slurm_conf_path());
  if (!jobcomp_option.empty()) {
    source.jobcomp_log = jobcomp_option;
  } else if (!config.jobcomp_log.empty()) {
    source.jobcomp_log = config.jobcomp_log;
  } else if (conf.get("JobCompType").value_or("") == "jobcomp/filetxt" && conf.get("JobCompLoc")) {
    source.jobcomp_log = *conf.get("JobCompLoc");
  }
  const bool slurmdbd = conf.get("AccountingStorageType").value_or("") == "accounting_storage/slurmdbd";
  if (config.use_sacct == "yes" || (config.use_sacct == "auto" && slurmdbd && !find_in_path("sacct").empty())) {
    source.live_sacct = source.jobcomp_log.empty() || config.use_sacct == "yes";
  }
  return source;
}

std::vector<SlurmJobRecord> read_slurm_records(const SlurmRecordSource& source, const std::string& job_id) {
  std::vector<SlurmJobRecord> records;
  if (!source.sacct_file.empty()) {
    std::ifstream in(source.sacct_file);
    if (!in) fail_user("cannot read the sacct output {}.", source.sacct_file.string());
    std::stringstream text;
    text << in.rdbuf();
    records = parse_sacct_parsable2(text.str());
  } else if (source.live_sacct) {
    std::vector<std::string> args = {"--parsable2", "-X", "-D", "--allusers",
                                     "--format=JobIDRaw,Cluster,User,Account,Partition,State,Start,End"};
    if (job_id.empty()) args.insert(args.end(), {"--starttime", "1970-01-01"});
    else args.insert(args.end(), {"-j", job_id});
    const auto result = run_process("sacct", args);
    if (!result || result->exit_code != 0) {
      fail_user("sacct failed{}: {}. Check slurmdbd, or name a jobcomp log with --jobcomp.",
                result ? fmt::format(" (exit {})", result->exit_code) : std::string(" to start"),
                result ? result->err : std::string("not found"));
    }
    records = parse_sacct_parsable2(result->out);
  } else if (!source.jobcomp_log.empty()) {
    records = read_jobcomp_log(source.jobcomp_log);
  }
  if (job_id.empty()) return records;
  std::vector<SlurmJobRecord> matching;
  for (SlurmJobRecord& record : records) {
    if (record.job_id == job_id) matching.push_back(std::move(record));
  }
  return matching;
}

}  // namespace shrike::accounting
