// accounting/slurm_record.h
//
// What Slurm recorded about jobs: one record per run of a job (a requeued job has one
// per start), with its state, user, partition, and start and end times. Read from the
// jobcomp/filetxt log (one "JobId=... JobState=... StartTime=... EndTime=..." line per
// job end and per requeue; JobCompLoc in slurm.conf) or from `sacct --parsable2` when
// the site runs slurmdbd. For Slurm jobs these times, not the user-writable run
// folder, are what gets charged.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "accounting/accounting_config.h"

namespace shrike::accounting {

struct SlurmJobRecord {
  std::string job_id, cluster, user, account, partition, state;
  std::int64_t start = 0, end = 0;  // unix seconds; 0 = unknown (never started / still running)
  bool final_state() const;         // the job will not run again (not requeued, pending or running)
  std::int64_t elapsed() const { return start > 0 && end >= start ? end - start : 0; }
};

// Parses one jobcomp/filetxt line; nullopt for a line that is not a job record.
std::optional<SlurmJobRecord> parse_jobcomp_line(const std::string& line);
// All records of a jobcomp log (a missing file is a UserError naming it).
std::vector<SlurmJobRecord> read_jobcomp_log(const std::filesystem::path& file);
// Parses `sacct --parsable2` output with a header line naming at least JobIDRaw (or
// JobID), State, Start and End; extra columns (Cluster, User, Account, Partition) are used.
std::vector<SlurmJobRecord> parse_sacct_parsable2(const std::string& text);

// Where Slurm's record is read from: an explicit sacct output file, a jobcomp log, or
// a live `sacct` call.
struct SlurmRecordSource {
  std::filesystem::path sacct_file;  // saved `sacct --parsable2` output
  std::filesystem::path jobcomp_log;
  bool live_sacct = false;
  std::string describe() const;
  bool available() const { return !sacct_file.empty() || !jobcomp_log.empty() || live_sacct; }
};

// --sacct-file, then --jobcomp, then accounting.yaml slurm.jobcomp_log, then slurm.conf's
// JobCompLoc (with JobCompType=jobcomp/filetxt); live sacct when use_sacct is yes, or auto
// and slurm.conf uses slurmdbd and sacct is in PATH.
SlurmRecordSource find_slurm_record_source(const AccountingConfig& config, const std::string& jobcomp_option,
                                           const std::string& sacct_file_option);

// The records of `job_id` (every run of it), or of all jobs when job_id is empty.
std::vector<SlurmJobRecord> read_slurm_records(const SlurmRecordSource& source, const std::string& job_id);

}  // namespace shrike::accounting
