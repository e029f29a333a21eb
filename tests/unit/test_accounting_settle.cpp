// tests/unit/test_accounting_settle.cpp: settlement against real SQLite: incremental
// charges from usage.json (a repeat charges 0, growth charges the difference), bad
// inputs refused with nothing written, Slurm's record (jobcomp/filetxt lines and sacct
// --parsable2) charged with the hold's instance and GPUs and the hold released at the
// end, requeues, a job that failed before training, and reconciliation findings.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

#include "accounting/holds.h"
#include "accounting/reconcile.h"
#include "accounting/settle_plan.h"
#include "accounting/time_text.h"
#include "accounting/usage_file.h"
#include "accounting/wallet.h"
#include "pipeline/core/error.h"
#include "tests/unit/accounting_fixture.h"

namespace shrike::test {
namespace {

using namespace shrike::accounting;
namespace fs = std::filesystem;

// Slurm prints local times; the tests pin the zone.
struct UtcZone {
  UtcZone() {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
};

SettleOptions options_with(const fs::path& jobcomp = {}) {
  SettleOptions options;
  options.slurm.jobcomp_log = jobcomp;
  options.default_user = "alice";
  options.now = unix_now();
  return options;
}

std::string jobcomp_line(const std::string& job, const std::string& state, const std::string& start,
                         const std::string& end, const std::string& cluster = "testc") {
  return fmt::format("JobId={} UserId=alice(1000) GroupId=alice(1000) Name=train exp3 JobState={} Partition=gpu "
                     "TimeLimit=120 StartTime={} EndTime={} NodeList=node1 NodeCnt=1 ProcCnt=16 WorkDir=/home/alice "
                     "ReservationName= Tres=cpu=16,mem=96G,node=1,billing=16 Account=vision QOS=normal WcKey= "
                     "Cluster={} SubmitTime={} EligibleTime={} DerivedExitCode=0:0 ExitCode=0:0\n",
                     job, state, start, end, cluster, start, start);
}

TEST(AccountingSettle, LocalRunIsChargedIncrementallyAndOnce) {
  LedgerFixture f;
  const fs::path run = write_usage_run(f.dir.path(), "exp", {{"2026-01-10T10:00:00Z", "2026-01-10T11:00:00Z"}});
  SettleResult first = settle_run_dirs(*f.ledger, f.config, f.catalog, {run}, options_with());
  EXPECT_EQ(first.charged, 1'480'000);  // 2 GPUs x 1 h x 0.74
  EXPECT_EQ(settle_run_dirs(*f.ledger, f.config, f.catalog, {run}, options_with()).charged, 0);  // a repeat
  write_usage_run(f.dir.path(), "exp", {{"2026-01-10T10:00:00Z", "2026-01-10T11:30:00Z"}});  // the segment grew
  EXPECT_EQ(settle_run_dirs(*f.ledger, f.config, f.catalog, {run}, options_with()).charged, 740'000);
  write_usage_run(f.dir.path(), "exp", {{"2026-01-10T10:00:00Z", "2026-01-10T11:00:00Z"}});  // shrank (edited): 0
  EXPECT_EQ(settle_run_dirs(*f.ledger, f.config, f.catalog, {run}, options_with()).charged, 0);
  EXPECT_EQ(f.balance(kRevenueAccount), 2'220'000);
  EXPECT_EQ(f.balance(wallet_account("alice")), f.config.free_credits_micro - 2'220'000);
  EXPECT_EQ(f.count("SELECT sum(gpu_seconds) FROM transactions WHERE kind = 'charge'"), 2 * 5400);
  // The same segment with other GPUs contradicts what was charged: refused, nothing written.
  write_usage_run(f.dir.path(), "exp", {{"2026-01-10T10:00:00Z", "2026-01-10T12:00:00Z"}}, 4);
  EXPECT_THROW(settle_run_dirs(*f.ledger, f.config, f.catalog, {run}, options_with()), UserError);
  EXPECT_EQ(f.balance(kRevenueAccount), 2'220'000);
  f.expect_consistent();
}

TEST(AccountingSettle, ComputeAcrossAPriceChangeKeepsItsOldPrice) {
  LedgerFixture f;
  const fs::path run = write_usage_run(f.dir.path(), "exp", {{"2026-05-31T23:00:00Z", "2026-06-01T01:00:00Z"}}, 1);
  EXPECT_EQ(settle_run_dirs(*f.ledger, f.config, f.catalog, {run}, options_with()).charged, 740'000 + 1'000'000);
}

// Every bad input: a clear UserError naming the problem, and the ledger untouched
// (including the good run folder passed in the same call).
TEST(AccountingSettle, BadInputsAreRefusedAndNothingIsWritten) {
  UtcZone utc;
  LedgerFixture f;
  const fs::path good = write_usage_run(f.dir.path(), "good", {{"2026-01-10T10:00:00Z", "2026-01-10T11:00:00Z"}});
  struct Case {
    std::string name, usage, expected;
  };
  const std::string head = R"("instance": "rtx4090", "gpus": 2, "segments": )";
  const std::vector<Case> cases = {
      {"malformed", R"({"instance": "rtx4090", "gpus": 2, "segments": [{"start": )", "not valid JSON"},
      {"negative", "{" + head + R"([{"start": "2026-01-10T10:00:00Z", "end": "2026-01-10T09:00:00Z"}]})",
       "before it starts"},
      {"overlapping", "{" + head + R"([{"start": "2026-01-10T10:00:00Z", "end": "2026-01-10T11:00:00Z"},
                                         {"start": "2026-01-10T10:30:00Z", "end": "2026-01-10T12:00:00Z"}]})",
       "overlap"},
      {"unknown instance", R"({"instance": "tpu-v9", "gpus": 2, "segments": []})", "unknown instance type 'tpu-v9'"},
      {"segment instance", "{" + head + R"([{"start": "2026-01-10T10:00:00Z", "end": "2026-01-10T11:00:00Z", "instance": "gtx"}]})",
       "segments[0]: unknown instance type 'gtx'"},
      {"gpus text", R"({"instance": "rtx4090", "gpus": "2", "segments": []})", "'gpus' must be a whole number"},
      {"gpus zero", "{" + head + R"([{"start": "2026-01-10T10:00:00Z", "end": "2026-01-10T11:00:00Z", "gpus": 0}]})",
       "'gpus' is 0"},
      {"no zone", "{" + head + R"([{"start": "2026-01-10T10:00:00", "end": "2026-01-10T11:00:00Z"}]})",
       "not a UTC time"},
      {"future", "{" + head + R"([{"start": "2026-01-10T10:00:00Z", "end": "2999-01-01T00:00:00Z"}]})", "in the future"},
      {"overflow", R"({"instance": "pricey", "gpus": 100000, "segments": [{"start": "2026-01-10T00:00:00Z", "end": "2026-01-11T00:00:00Z"}]})",
       "more than 10^9 credits"},
      {"not an object", "[1, 2]", "must be a JSON object"},
  };
  for (const Case& c : cases) {
    write_text(f.dir / "bad" / "usage.json", c.usage);
    try {
      settle_run_dirs(*f.ledger, f.config, f.catalog, {good, f.dir / "bad"}, options_with());
      ADD_FAILURE() << c.name << ": accepted";
    } catch (const UserError& error) {
      EXPECT_NE(std::string(error.what()).find(c.expected), std::string::npos) << c.name << ": " << error.what();
    }
    EXPECT_EQ(f.count("SELECT count(*) FROM transactions"), 0) << c.name;
    EXPECT_EQ(f.count("SELECT count(*) FROM segment_charges"), 0) << c.name;
  }
  EXPECT_THROW(settle_run_dirs(*f.ledger, f.config, f.catalog, {f.dir / "missing"}, options_with()), UserError);
}

TEST(AccountingSlurmRecord, ParsesJobcompLinesAndSacctOutput) {
  UtcZone utc;
  const auto record = parse_jobcomp_line(jobcomp_line("4242", "COMPLETED", "2026-01-10T10:00:00", "2026-01-10T11:00:05"));
  ASSERT_TRUE(record);
  EXPECT_EQ(record->job_id, "4242");
  EXPECT_EQ(record->user, "alice");
  EXPECT_EQ(record->cluster, "testc");
  EXPECT_EQ(record->elapsed(), 3605);
  EXPECT_TRUE(record->final_state());
  EXPECT_FALSE(parse_jobcomp_line("garbage line"));
  const auto requeued = parse_jobcomp_line(jobcomp_line("7", "REQUEUED", "2026-01-10T10:00:00", "2026-01-10T10:05:00"));
  EXPECT_FALSE(requeued->final_state());
  const auto sacct = parse_sacct_parsable2(
      "JobIDRaw|Cluster|User|Account|Partition|State|Start|End\n"
      "4242|testc|alice|vision|gpu|COMPLETED|2026-01-10T10:00:00|2026-01-10T11:00:00\n"
      "4242.batch|testc||vision||COMPLETED|2026-01-10T10:00:00|2026-01-10T11:00:00\n"
      "4243|testc|bob|vision|gpu|RUNNING|2026-01-10T10:00:00|Unknown\n");
  ASSERT_EQ(sacct.size(), 2u);  // the step line is skipped
  EXPECT_EQ(sacct[0].elapsed(), 3600);
  EXPECT_EQ(sacct[1].end, 0);
  EXPECT_THROW(parse_sacct_parsable2("JobID|State\n1|COMPLETED\n"), UserError);
}

struct JobFixture : LedgerFixture {
  UtcZone utc;
  fs::path jobcomp;
  JobFixture() {
    jobcomp = dir / "jobcomp.log";
    config.free_credits_micro = 20'000'000;
    HoldRequest r;
    r.job_key = "testc:uuid-1";
    r.account = "alice";
    r.user = "alice";
    r.instance = "rtx4090";
    r.gpus = 2;
    r.estimated_seconds = 3 * 3600;
    r.timed = true;
    place_hold_in(*ledger, config, catalog, r);  // 6.00 held at today's 1.00/GPU-h
    bind_hold_in(*ledger, "testc:uuid-1", "testc", "101");
  }
  SettleOptions options() { return options_with(jobcomp); }
};

TEST(AccountingSettleJob, ChargesSlurmsRecordFromTheHoldAndReleasesTheRest) {
  JobFixture f;
  // Running: no record yet, nothing charged, the hold stays.
  write_text(f.jobcomp, jobcomp_line("99", "COMPLETED", "2026-01-10T08:00:00", "2026-01-10T09:00:00"));
  SettleResult running = settle_slurm_job(*f.ledger, f.config, f.catalog, "101", f.options());
  EXPECT_EQ(running.charged, 0);
  EXPECT_EQ(running.notes.size(), 1u);
  // Ended after 1 h (January: 0.74/GPU-h): 1.48 from the hold, 4.52 back to the wallet.
  write_text(f.jobcomp, jobcomp_line("101", "COMPLETED", "2026-01-10T10:00:00", "2026-01-10T11:00:00"));
  SettleResult ended = settle_slurm_job(*f.ledger, f.config, f.catalog, "101", f.options());
  EXPECT_EQ(ended.charged, 1'480'000);
  EXPECT_EQ(ended.released, 6'000'000 - 1'480'000);
  EXPECT_EQ(f.balance(wallet_account("alice")), 20'000'000 - 1'480'000);
  EXPECT_EQ(f.balance(hold_account("testc:uuid-1")), 0);
  EXPECT_EQ(find_hold(*f.ledger, "testc:uuid-1")->state, "closed");
  SettleResult again = settle_slurm_job(*f.ledger, f.config, f.catalog, "101", f.options());
  EXPECT_EQ(again.charged + again.released, 0);
  f.expect_consistent();
}

TEST(AccountingSettleJob, RunFolderOfASlurmJobIsChargedFromSlurmNotFromUsageJson) {
  JobFixture f;
  write_text(f.jobcomp, jobcomp_line("101", "COMPLETED", "2026-01-10T10:00:00", "2026-01-10T11:00:00"));
  // The user's usage.json claims 1 GPU for 10 minutes; Slurm says 1 h, the hold says 2 GPUs.
  const fs::path run = write_usage_run(f.dir.path(), "exp", {{"2026-01-10T10:00:00Z", "2026-01-10T10:10:00Z"}}, 1,
                                       "alice", R"(, "job_id": "101")");
  EXPECT_EQ(settle_run_dirs(*f.ledger, f.config, f.catalog, {run}, f.options()).charged, 1'480'000);
  EXPECT_EQ(settle_slurm_job(*f.ledger, f.config, f.catalog, "101", f.options()).charged, 0);  // same key
  f.expect_consistent();
}

TEST(AccountingSettleJob, RequeuedJobHasOneSegmentPerRunAndClosesAtTheEnd) {
  JobFixture f;
  write_text(f.jobcomp, jobcomp_line("101", "REQUEUED", "2026-01-10T10:00:00", "2026-01-10T10:30:00"));
  SettleResult first = settle_slurm_job(*f.ledger, f.config, f.catalog, "101", f.options());
  EXPECT_EQ(first.charged, 740'000);
  EXPECT_TRUE(first.closed.empty());  // it will run again
  std::string log = jobcomp_line("101", "REQUEUED", "2026-01-10T10:00:00", "2026-01-10T10:30:00");
  log += jobcomp_line("101", "COMPLETED", "2026-01-10T10:40:00", "2026-01-10T11:10:00");
  write_text(f.jobcomp, log);
  SettleResult second = settle_slurm_job(*f.ledger, f.config, f.catalog, "101", f.options());
  EXPECT_EQ(second.charged, 740'000);
  EXPECT_EQ(second.closed.size(), 1u);
  EXPECT_EQ(f.count("SELECT count(*) FROM segment_charges"), 2);
  f.expect_consistent();
}

TEST(AccountingSettleJob, JobThatFailedBeforeTrainingCostsNothing) {
  JobFixture f;
  f.ledger->db().exec(fmt::format("UPDATE holds SET run_dir = '{}'", (f.dir / "exp").string()));
  write_usage_run(f.dir.path(), "exp", {});  // a usage.json with no segment of job 101: it never trained
  write_text(f.jobcomp, jobcomp_line("101", "FAILED", "2026-01-10T10:00:00", "2026-01-10T10:00:40"));
  SettleResult result = settle_slurm_job(*f.ledger, f.config, f.catalog, "101", f.options());
  EXPECT_EQ(result.charged, 0);
  EXPECT_EQ(result.released, 6'000'000);
  EXPECT_EQ(f.balance(wallet_account("alice")), 20'000'000);
  f.expect_consistent();
}

TEST(AccountingReconcile, FindsUnchargedJobsChargesWithoutJobsAndMismatches) {
  JobFixture f;
  write_text(f.jobcomp, jobcomp_line("101", "COMPLETED", "2026-01-10T10:00:00", "2026-01-10T11:00:00"));
  settle_slurm_job(*f.ledger, f.config, f.catalog, "101", f.options());
  // Job 102 ran 1 h but was never settled; job 103 is charged but Slurm never ran it;
  // job 101's record later says 2 h (a mismatch); job 555 is not shrike's.
  HoldRequest r;
  r.job_key = "testc:uuid-2";
  r.account = "alice";
  r.instance = "rtx4090";
  r.gpus = 1;
  r.estimated_seconds = 600;
  place_hold_in(*f.ledger, f.config, f.catalog, r);
  bind_hold_in(*f.ledger, "testc:uuid-2", "testc", "102");
  const fs::path run = write_usage_run(f.dir.path(), "ghost", {{"2026-01-11T10:00:00Z", "2026-01-11T11:00:00Z"}}, 1,
                                       "alice", R"(, "job_id": "103")");
  SettleOptions from_usage = f.options();
  from_usage.from_usage = true;
  settle_run_dirs(*f.ledger, f.config, f.catalog, {run}, from_usage);
  std::vector<SlurmJobRecord> records;
  for (const std::string& line : {jobcomp_line("101", "COMPLETED", "2026-01-10T10:00:00", "2026-01-10T12:00:00"),
                                  jobcomp_line("102", "COMPLETED", "2026-01-10T10:00:00", "2026-01-10T11:00:00"),
                                  jobcomp_line("555", "COMPLETED", "2026-01-10T10:00:00", "2026-01-10T11:00:00")}) {
    records.push_back(*parse_jobcomp_line(line));
  }
  const ReconcileResult result = reconcile_with_slurm(*f.ledger, f.config, records, "test");
  std::map<std::string, std::string> kinds;
  for (const ReconcileFinding& finding : result.findings) kinds[finding.job] += finding.kind + " ";
  EXPECT_EQ(kinds["testc:101"], "gpu_time_mismatch ");
  EXPECT_EQ(kinds["testc:102"], "not_charged open_hold_after_end ");
  EXPECT_EQ(kinds["local:103"], "no_slurm_record ");
  EXPECT_EQ(result.other_jobs, 1);
}

}  // namespace
}  // namespace shrike::test
