// accounting/reconcile.cpp: ledger charges per job against Slurm's elapsed times.
#include "accounting/reconcile.h"

#include <fmt/core.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "accounting/holds.h"

namespace shrike::accounting {

namespace {

struct LedgerJob {
  std::string cluster, job_id;
  int gpus = 0;                    // from the hold (0: no hold)
  bool hold_open = false;
  std::int64_t charged_gpu_seconds = 0;
  bool charged = false;
};

std::map<std::string, LedgerJob> ledger_jobs(Ledger& ledger) {
  std::map<std::string, LedgerJob> jobs;
  for (const HoldRecord& hold : list_holds(ledger, "")) {
    if (hold.job_id.empty()) continue;
    LedgerJob& job = jobs[hold.job_id];
    job.cluster = hold.cluster;
    job.job_id = hold.job_id;
    job.gpus = hold.gpus;
    job.hold_open = hold.state == "open";
  }
  Statement charges = ledger.db().prepare(
      "SELECT cluster, job_id, sum(gpu_seconds) FROM transactions WHERE kind = 'charge' AND job_id != '' "
      "GROUP BY cluster, job_id");
  while (charges.step()) {
    LedgerJob& job = jobs[charges.column_text(1)];
    if (job.cluster.empty()) job.cluster = charges.column_text(0);
    job.job_id = charges.column_text(1);
    job.charged_gpu_seconds += charges.column_int64(2);
    job.charged = true;
  }
  return jobs;
}

}  // namespace

ReconcileResult reconcile_with_slurm(Ledger& ledger, const AccountingConfig& config,
                                     const std::vector<SlurmJobRecord>& records, const std::string& source) {
  ReconcileResult result;
  result.source = source;
  ReadTransaction snapshot(ledger.db());
  const std::map<std::string, LedgerJob> jobs = ledger_jobs(ledger);
  std::map<std::string, std::vector<const SlurmJobRecord*>> by_job;
  for (const SlurmJobRecord& record : records) by_job[record.job_id].push_back(&record);
  std::set<std::string> other;
  for (const auto& [job_id, runs] : by_job) {
    if (!jobs.count(job_id)) other.insert(job_id);
  }
  result.other_jobs = static_cast<int>(other.size());
  for (const auto& [job_id, job] : jobs) {
    const std::string name = fmt::format("{}:{}", job.cluster, job_id);
    const auto found = by_job.find(job_id);
    if (found == by_job.end()) {
      if (job.charged) {
        result.findings.push_back({"no_slurm_record", name, 0, job.charged_gpu_seconds,
                                   "charged, but Slurm's record has no such job"});
      }
      continue;
    }
    ++result.jobs_compared;
    std::int64_t elapsed = 0;
    bool ended = false;
    for (const SlurmJobRecord* run : found->second) {
      elapsed += run->elapsed();
      ended = ended || (run->final_state() && run->end > 0);
    }
    const std::int64_t slurm_gpu_seconds = elapsed * std::max(job.gpus, 1);
    const std::int64_t tolerance = static_cast<std::int64_t>(config.reconcile_tolerance_seconds) * std::max(job.gpus, 1);
    if (!job.charged && elapsed > config.reconcile_tolerance_seconds) {
      result.findings.push_back({"not_charged", name, slurm_gpu_seconds, 0, "ran, but nothing was charged"});
    } else if (job.charged && std::llabs(slurm_gpu_seconds - job.charged_gpu_seconds) > tolerance) {
      result.findings.push_back({"gpu_time_mismatch", name, slurm_gpu_seconds, job.charged_gpu_seconds,
                                 fmt::format("differs by {} GPU-seconds (tolerance {})",
                                             slurm_gpu_seconds - job.charged_gpu_seconds, tolerance)});
    }
    if (ended && job.hold_open) {
      result.findings.push_back({"open_hold_after_end", name, slurm_gpu_seconds, job.charged_gpu_seconds,
                                 "the job ended but its hold is still open: run `shrike accounting settle --all`"});
    }
  }
  return result;
}

std::string render_reconcile(const ReconcileResult& result, const std::string& format) {
  if (format == "json") {
    nlohmann::ordered_json findings = nlohmann::ordered_json::array();
    for (const ReconcileFinding& f : result.findings) {
      findings.push_back({{"kind", f.kind}, {"job", f.job}, {"slurm_gpu_seconds", f.slurm_gpu_seconds},
                          {"charged_gpu_seconds", f.charged_gpu_seconds}, {"detail", f.detail}});
    }
    return nlohmann::ordered_json{{"source", result.source}, {"jobs_compared", result.jobs_compared},
                                  {"other_jobs", result.other_jobs}, {"findings", findings}}
               .dump(2) + "\n";
  }
  std::string text;
  for (const ReconcileFinding& f : result.findings) {
    text += fmt::format("{:<20} {:<24} slurm {:>10} GPU-s  charged {:>10} GPU-s  {}\n", f.kind, f.job,
                        f.slurm_gpu_seconds, f.charged_gpu_seconds, f.detail);
  }
  text += fmt::format("reconcile: {} shrike job(s) compared with {}, {} finding(s); {} other Slurm job(s) not "
                      "submitted through shrike.\n",
                      result.jobs_compared, result.source, result.findings.size(), result.other_jobs);
  return text;
}

}  // namespace shrike::accounting
