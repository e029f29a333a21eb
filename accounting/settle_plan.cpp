// accounting/settle_plan.cpp: turning run folders and Slurm records into segments.
#include "accounting/settle_plan.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <map>
#include <optional>

#include "accounting/holds.h"
#include "accounting/pricing.h"
#include "accounting/time_text.h"
#include "accounting/usage_file.h"
#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace fs = std::filesystem;

namespace {

struct JobPlan {
  std::vector<ChargeSegment> segments;
  std::vector<std::string> holds_to_close;
  std::vector<std::string> notes;
};

std::optional<HoldRecord> hold_of_job(Ledger& ledger, const std::string& cluster, const std::string& job_id) {
  const std::vector<HoldRecord> holds = find_holds_by_job(ledger, cluster == "local" ? "" : cluster, job_id);
  if (holds.size() > 1) {
    fail_user("Slurm job {} has holds on {} clusters; name the cluster with --cluster.", job_id, holds.size());
  }
  if (holds.empty()) return std::nullopt;
  return holds.front();
}

bool failed_before_training(const SlurmJobRecord& record, const std::optional<UsageFile>& usage,
                            const AccountingConfig& config) {
  if (!usage || record.state.rfind("COMPLETED", 0) == 0) return false;
  const bool trained = std::any_of(usage->segments.begin(), usage->segments.end(),
                                   [&](const UsageSpan& span) { return span.job_id == record.job_id; });
  return !trained && record.elapsed() <= config.startup_grace_seconds;
}

// Who the job's compute is charged to and at what size: the hold when there is one,
// else the run folder's first segment of that job.
struct JobIdentity {
  Attribution who;
  int gpus = 0;
  std::string hold_key;
};

std::optional<JobIdentity> job_identity(const std::optional<HoldRecord>& hold, const std::optional<UsageFile>& usage,
                                        const std::string& job_id) {
  JobIdentity identity;
  if (hold) {
    identity.who = {hold->account, hold->user, hold->project, hold->run, hold->instance, hold->cluster, job_id, "", 0};
    identity.gpus = hold->gpus;
    identity.hold_key = hold->job_key;
    return identity;
  }
  if (!usage) return std::nullopt;
  for (const UsageSpan& span : usage->segments) {
    if (span.job_id != job_id) continue;
    identity.who = {usage->account, usage->user, usage->project, usage->run, span.instance, usage->cluster, job_id, "", 0};
    identity.gpus = span.gpus;
    return identity;
  }
  return std::nullopt;
}

JobPlan plan_slurm_job(Ledger& ledger, const AccountingConfig& config, const std::string& cluster,
                       const std::string& job_id, const std::optional<UsageFile>& usage, const SettleOptions& options) {
  JobPlan plan;
  const std::optional<HoldRecord> hold = hold_of_job(ledger, cluster, job_id);
  const std::optional<JobIdentity> identity = job_identity(hold, usage, job_id);
  if (!identity) {
    plan.notes.push_back(fmt::format("job {}: no shrike hold and no usage.json segment: not a shrike job, nothing "
                                     "to charge", job_id));
    return plan;
  }
  std::vector<SlurmJobRecord> records =
      options.slurm.available() ? read_slurm_records(options.slurm, job_id) : std::vector<SlurmJobRecord>{};
  const std::string key_cluster = identity->who.cluster.empty() ? "local" : identity->who.cluster;
  records.erase(std::remove_if(records.begin(), records.end(),
                               [&](const SlurmJobRecord& r) {
                                 return !r.cluster.empty() && r.cluster != "unknown" && key_cluster != "local" &&
                                        r.cluster != key_cluster;
                               }),
                records.end());
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
  const std::string source = options.slurm.sacct_file.empty() && !options.slurm.live_sacct ? "jobcomp" : "sacct";
  if (records.empty()) {
    if (options.from_usage && usage) {
      int run = 0;
      for (const UsageSpan& span : usage->segments) {
        if (span.job_id != job_id) continue;
        ChargeSegment segment{fmt::format("{}:{}:run{}", key_cluster, job_id, run++), identity->who, identity->gpus,
                              span.start, span.end, identity->hold_key, "usage.json"};
        plan.segments.push_back(segment);
      }
      return plan;
    }
    plan.notes.push_back(fmt::format("job {}: Slurm has no record of it yet ({}): still running, or the record is "
                                     "not readable; it is charged when it ends", job_id, options.slurm.describe()));
    return plan;
  }
  int run = 0;
  for (const SlurmJobRecord& record : records) {
    if (record.start <= 0) continue;  // never started: nothing ran
    const std::string key = fmt::format("{}:{}:run{}", key_cluster, job_id, run++);
    if (record.end <= 0) {
      plan.notes.push_back(fmt::format("job {}: run {} is still going; charged when it ends", job_id, run - 1));
      continue;
    }
    if (record.state.rfind("BOOT_FAIL", 0) == 0 || failed_before_training(record, usage, config)) {
      plan.notes.push_back(fmt::format("job {}: run {} ended {} after {} s without training: not charged", job_id,
                                       run - 1, record.state, record.elapsed()));
      continue;
    }
    plan.segments.push_back({key, identity->who, identity->gpus, record.start, record.end, identity->hold_key, source});
  }
  if (hold && hold->state == "open" && records.back().final_state() && records.back().end > 0) {
    plan.holds_to_close.push_back(hold->job_key);
  }
  return plan;
}

std::optional<UsageFile> usage_of_hold(const std::optional<HoldRecord>& hold, const InstanceCatalog& catalog,
                                       const SettleOptions& options) {
  if (!hold || hold->run_dir.empty() || !fs::exists(fs::path(hold->run_dir) / "usage.json")) return std::nullopt;
  try {
    return read_usage_file(fs::path(hold->run_dir) / "usage.json", catalog, hold->user, options.now);
  } catch (const UserError&) {
    return std::nullopt;  // only used to spot a job that never trained; Slurm's record is what is charged
  }
}

ChargeSegment local_segment(const UsageFile& usage, const UsageSpan& span) {
  const std::string key = fmt::format("{}:local:{}/{}/{}:{}", usage.cluster, usage.account, usage.project, usage.run,
                                      span.start);
  const Attribution who{usage.account, usage.user, usage.project, usage.run, span.instance, usage.cluster, "", "", 0};
  return {key, who, span.gpus, span.start, span.end, "", "usage.json"};
}

// Test hook for tests/integration/accounting_crash.sh: SHRIKE_TEST_SETTLE_PAUSE_AFTER=N
// makes a settle stop for 10 minutes after committing N run folders, so that a kill -9
// lands exactly in the middle of a batch.
std::size_t test_pause_after() {
  const char* value = std::getenv("SHRIKE_TEST_SETTLE_PAUSE_AFTER");
  return value != nullptr ? static_cast<std::size_t>(std::strtoul(value, nullptr, 10)) : 0;
}

JobPlan plan_run_dir(Ledger& ledger, const AccountingConfig& config, const UsageFile& usage,
                     const SettleOptions& options) {
  JobPlan plan;
  std::vector<std::string> jobs;
  for (const UsageSpan& span : usage.segments) {
    if (span.job_id.empty()) {
      plan.segments.push_back(local_segment(usage, span));
    } else if (std::find(jobs.begin(), jobs.end(), span.job_id) == jobs.end()) {
      jobs.push_back(span.job_id);
    }
  }
  for (const std::string& job_id : jobs) {
    JobPlan job = plan_slurm_job(ledger, config, usage.cluster, job_id, usage, options);
    plan.segments.insert(plan.segments.end(), job.segments.begin(), job.segments.end());
    plan.holds_to_close.insert(plan.holds_to_close.end(), job.holds_to_close.begin(), job.holds_to_close.end());
    plan.notes.insert(plan.notes.end(), job.notes.begin(), job.notes.end());
  }
  return plan;
}

}  // namespace

SettleResult settle_run_dirs(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                             const std::vector<fs::path>& run_dirs, const SettleOptions& options) {
  std::vector<UsageFile> usages;
  for (const fs::path& dir : run_dirs) {
    usages.push_back(read_usage_file(dir / "usage.json", catalog, options.default_user, options.now));
  }
  // Plan and price everything before the first write: a bad folder stops the batch whole.
  std::vector<JobPlan> plans;
  for (const UsageFile& usage : usages) plans.push_back(plan_run_dir(ledger, config, usage, options));
  for (const JobPlan& plan : plans) {
    for (const ChargeSegment& segment : plan.segments) {
      usage_cost_micro(catalog.at(segment.who.instance), config, segment.gpus, segment.start,
                       billable_seconds(segment.end - segment.start, config));
    }
  }
  SettleResult total;
  const std::size_t pause_after = test_pause_after();
  for (std::size_t i = 0; i < usages.size(); ++i) {
    if (pause_after > 0 && i == pause_after) std::this_thread::sleep_for(std::chrono::minutes(10));
    SettleResult result = charge_segments(ledger, config, catalog, plans[i].segments, plans[i].holds_to_close);
    for (const std::string& note : plans[i].notes) result.notes.push_back(usages[i].path.parent_path().string() + ": " + note);
    total.add(result);
  }
  return total;
}

SettleResult settle_slurm_job(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                              const std::string& job_id, const SettleOptions& options) {
  const std::optional<HoldRecord> hold = hold_of_job(ledger, options.cluster, job_id);
  if (!hold) {
    SettleResult result;
    result.notes.push_back(fmt::format("job {}: no shrike hold is bound to it: not a shrike job, or settle its run "
                                       "folder instead (shrike accounting settle RUN_DIR)", job_id));
    return result;
  }
  const JobPlan plan = plan_slurm_job(ledger, config, hold->cluster, job_id, usage_of_hold(hold, catalog, options), options);
  SettleResult result = charge_segments(ledger, config, catalog, plan.segments, plan.holds_to_close);
  result.notes.insert(result.notes.end(), plan.notes.begin(), plan.notes.end());
  return result;
}

SettleResult settle_open_jobs(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                              const SettleOptions& options) {
  SettleResult total;
  for (const HoldRecord& hold : list_holds(ledger, "open")) {
    if (hold.job_id.empty()) continue;
    SettleOptions for_job = options;
    for_job.cluster = hold.cluster;
    total.add(settle_slurm_job(ledger, config, catalog, hold.job_id, for_job));
  }
  return total;
}

}  // namespace shrike::accounting
