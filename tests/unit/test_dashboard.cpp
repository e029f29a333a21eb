// tests/unit/test_dashboard.cpp: the dashboard's pieces that decide what a request may
// see and what it is shown, on real files: request names and symlinks against the
// runs root; the token file (created 0600, kept, refused when others may read it);
// metrics.jsonl read by byte offset (torn lines, offsets that are not line starts) and
// the SSE framing; the ledger read through a read-only connection (a real ledger with a
// hold and a charge, and a missing ledger that must stay missing); the job registry.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "accounting/caller_identity.h"
#include "accounting/holds.h"
#include "accounting/ledger.h"
#include "accounting/wallet.h"
#include "dashboard/access_token.h"
#include "dashboard/job_registry_view.h"
#include "dashboard/ledger_view.h"
#include "dashboard/metrics_stream.h"
#include "dashboard/runs_root.h"
#include "pipeline/core/error.h"
#include "scheduler/job_registry.h"
#include "tests/unit/accounting_fixture.h"
#include "tests/unit/test_support.h"

namespace shrike::test {
namespace {

namespace fs = std::filesystem;
using dashboard::Lookup;

// runs/<project>/<run> with a status.json (what makes a folder a run folder).
fs::path make_run(const fs::path& root, const std::string& project, const std::string& run) {
  write_text(root / project / run / "status.json", R"({"state": "completed", "reason": "", "time": "x"})");
  write_text(root / project / run / "weights" / "best.h5", "weights");
  return root / project / run;
}

TEST(DashboardRunsRoot, PlainNamesOnly) {
  for (const char* good : {"exp", "exp 2", "a.b", "..a", "ü"}) EXPECT_TRUE(dashboard::is_plain_name(good)) << good;
  for (const char* bad : {"", ".", "..", "a/b", "../x", "a\\b", "x\n", "/etc"}) {
    EXPECT_FALSE(dashboard::is_plain_name(bad)) << bad;
  }
  EXPECT_FALSE(dashboard::is_plain_name(std::string("a\0b", 3)));
  EXPECT_FALSE(dashboard::is_plain_name(std::string(256, 'a')));
}

TEST(DashboardRunsRoot, LookupsStayUnderTheRootThroughSymlinks) {
  TempDir dir;
  const fs::path root = dir / "runs";
  make_run(root, "coco", "exp");
  make_run(dir / "elsewhere", "secret", "run");
  write_text(dir / "secret.txt", "secret");
  fs::create_directory_symlink(dir / "elsewhere" / "secret", root / "escape");            // project outside
  fs::create_directory_symlink(dir / "elsewhere" / "secret" / "run", root / "coco" / "out");  // run outside
  fs::create_directory_symlink(root / "coco" / "exp", root / "coco" / "alias");           // run inside
  fs::create_symlink(dir / "secret.txt", root / "coco" / "exp" / "leak.txt");            // file outside
  fs::create_symlink(dir / "secret.txt", root / "coco" / "exp" / "weights" / "leak.h5");

  dashboard::RunsRoot runs(root);
  EXPECT_EQ(runs.run("coco", "exp").result, Lookup::found);
  EXPECT_EQ(runs.run("coco", "alias").result, Lookup::found);
  EXPECT_EQ(runs.run("coco", "alias").path, fs::canonical(root / "coco" / "exp"));
  EXPECT_EQ(runs.run("coco", "..").result, Lookup::bad_name);
  EXPECT_EQ(runs.run("..", "runs").result, Lookup::bad_name);
  EXPECT_EQ(runs.run("coco/exp", "weights").result, Lookup::bad_name);
  EXPECT_EQ(runs.run("coco", "missing").result, Lookup::not_found);
  EXPECT_EQ(runs.run("coco", "weights").result, Lookup::not_found);  // not a run folder
  EXPECT_EQ(runs.project("escape").result, Lookup::outside_root);
  EXPECT_EQ(runs.run("escape", "run").result, Lookup::outside_root);
  EXPECT_EQ(runs.run("coco", "out").result, Lookup::outside_root);

  const fs::path exp = runs.run("coco", "exp").path;
  EXPECT_EQ(runs.file_in_run(exp, "status.json").result, Lookup::found);
  EXPECT_EQ(runs.file_in_run(exp, "weights/best.h5").result, Lookup::found);
  EXPECT_EQ(runs.file_in_run(exp, "weights").result, Lookup::not_found);  // a folder, not a file
  EXPECT_EQ(runs.file_in_run(exp, "leak.txt").result, Lookup::outside_root);
  EXPECT_EQ(runs.file_in_run(exp, "weights/leak.h5").result, Lookup::outside_root);
  EXPECT_EQ(runs.file_in_run(exp, "weights/../status.json").result, Lookup::bad_name);
  EXPECT_EQ(runs.file_in_run(exp, "../exp/status.json").result, Lookup::bad_name);

  EXPECT_EQ(runs.project_names(), std::vector<std::string>({"coco"}));  // "escape" resolves outside
  EXPECT_EQ(runs.run_names(runs.project("coco").path), std::vector<std::string>({"alias", "exp"}));
  EXPECT_TRUE(runs.contains(root / "coco" / "not-yet"));
  EXPECT_FALSE(runs.contains(dir / "elsewhere"));
  EXPECT_FALSE(runs.contains(dir / "runs-old" / "x"));  // a sibling with the root's name as prefix
}

TEST(DashboardRunsRoot, AMissingRootIsEmptyUntilItAppears) {
  TempDir dir;
  dashboard::RunsRoot runs(dir / "runs");
  EXPECT_FALSE(runs.exists());
  EXPECT_TRUE(runs.project_names().empty());
  EXPECT_EQ(runs.run("coco", "exp").result, Lookup::not_found);
  make_run(dir / "runs", "coco", "exp");
  EXPECT_EQ(runs.run("coco", "exp").result, Lookup::found);
}

TEST(DashboardToken, KeptInAPrivateFileAndCompared) {
  TempDir dir;
  const fs::path file = dir / "home" / "dashboard.token";
  const auto first = dashboard::load_or_create_token(file, false);
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.token.size(), 64u);
  EXPECT_EQ(first.token.find_first_not_of("0123456789abcdef"), std::string::npos);
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  const auto again = dashboard::load_or_create_token(file, false);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.token, first.token);
  const auto renewed = dashboard::load_or_create_token(file, true);
  EXPECT_NE(renewed.token, first.token);
  EXPECT_EQ(dashboard::load_or_create_token(file, false).token, renewed.token);
  EXPECT_NE(dashboard::random_token(), dashboard::random_token());

  ::chmod(file.c_str(), 0644);
  try {
    dashboard::load_or_create_token(file, false);
    ADD_FAILURE() << "a token file others may read was accepted";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("chmod 600"), std::string::npos) << error.what();
  }
  ::chmod(file.c_str(), 0600);
  write_text(file, "not a token\n");
  ::chmod(file.c_str(), 0600);
  EXPECT_THROW(dashboard::load_or_create_token(file, false), UserError);

  EXPECT_TRUE(dashboard::token_matches(first.token, first.token));
  EXPECT_FALSE(dashboard::token_matches(first.token.substr(1), first.token));
  EXPECT_FALSE(dashboard::token_matches("", ""));
  EXPECT_EQ(dashboard::cookie_value("a=1; shrike_token_8080=abc ; b=2", "shrike_token_8080"), "abc");
  EXPECT_EQ(dashboard::cookie_value("shrike_token_80800=abc", "shrike_token_8080"), "");
  EXPECT_EQ(dashboard::token_set_cookie("n", "t"), "n=t; Path=/; HttpOnly; SameSite=Strict");
}

TEST(DashboardMetrics, ReadByByteOffsetSkippingTornAndBadLines) {
  TempDir dir;
  const fs::path file = dir / "metrics.jsonl";
  const std::string a = R"({"type":"event","event":"start"})", b = R"({"type":"epoch","epoch":1})";
  write_text(file, a + "\n" + "not json\n" + b + "\n" + R"({"type":"train","ep)");
  const auto all = dashboard::read_metrics_lines(file, 0);
  ASSERT_EQ(all.lines.size(), 2u);
  EXPECT_EQ(all.lines[0].text, a);
  EXPECT_EQ(all.lines[0].end_offset, a.size() + 1);
  EXPECT_EQ(all.lines[1].end_offset, a.size() + 1 + 9 + b.size() + 1);
  EXPECT_EQ(all.next_offset, all.lines[1].end_offset);  // the torn line is left for later
  EXPECT_EQ(all.skipped, 1);
  EXPECT_FALSE(all.reset);

  const auto rest = dashboard::read_metrics_lines(file, all.lines[0].end_offset);
  ASSERT_EQ(rest.lines.size(), 1u);
  EXPECT_EQ(rest.lines[0].text, b);
  EXPECT_TRUE(dashboard::read_metrics_lines(file, all.next_offset).lines.empty());

  const auto middle = dashboard::read_metrics_lines(file, 5);  // not a line start: from 0, with reset
  EXPECT_TRUE(middle.reset);
  EXPECT_EQ(middle.lines.size(), 2u);
  EXPECT_TRUE(dashboard::read_metrics_lines(file, 1 << 20).reset);  // past the end (file replaced)

  std::ofstream(file, std::ios::app) << "ochs\":2}\n";  // the torn line completed
  const auto completed = dashboard::read_metrics_lines(file, all.next_offset);
  ASSERT_EQ(completed.lines.size(), 1u);
  EXPECT_EQ(completed.next_offset, fs::file_size(file));

  // A window smaller than a line still returns the whole line.
  EXPECT_EQ(dashboard::read_metrics_lines(file, 0, 4).lines.size(), 1u);
  const auto snapshot = dashboard::read_metrics_snapshot(file);
  EXPECT_EQ(snapshot.records.size(), 3u);  // start, epoch 1, and the train record after it
  EXPECT_EQ(snapshot.offset, fs::file_size(file));
  EXPECT_TRUE(dashboard::read_metrics_lines(dir / "missing.jsonl", 0).lines.empty());
}

TEST(DashboardMetrics, EventFramingOffsetsAndLogTail) {
  EXPECT_EQ(dashboard::sse_event("record", "{}", 42), "id: 42\nevent: record\ndata: {}\n\n");
  EXPECT_EQ(dashboard::sse_event("status", "{}"), "event: status\ndata: {}\n\n");
  EXPECT_EQ(dashboard::parse_offset("123"), 123u);
  for (const char* bad : {"", "-1", "12a", " 1", "99999999999999999999999"}) {
    EXPECT_FALSE(dashboard::parse_offset(bad)) << bad;
  }
  TempDir dir;
  write_text(dir / "train.log", "one\ntwo\r\nthree\n");
  EXPECT_EQ(dashboard::tail_lines(dir / "train.log", 2), std::vector<std::string>({"two", "three"}));
  EXPECT_TRUE(dashboard::tail_lines(dir / "missing.log", 5).empty());
}

TEST(DashboardMetrics, StreamSendsRecordsWithOffsetsThenWhatIsAppended) {
  TempDir dir;
  write_text(dir / "status.json", R"({"state": "running"})");
  write_text(dir / "metrics.jsonl", "{\"type\":\"epoch\",\"epoch\":1}\n");
  std::atomic<bool> stopping{false};
  dashboard::RunEventStream stream(dir.path(), 0);
  const std::string first = stream.next_chunk(stopping);
  EXPECT_NE(first.find("retry: 2000"), std::string::npos);
  EXPECT_NE(first.find("event: status\ndata: {\"state\":\"running\"}"), std::string::npos);
  EXPECT_NE(first.find("id: 27\nevent: record\n"), std::string::npos) << first;
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << "{\"type\":\"epoch\",\"epoch\":2}\n";
  std::string next;
  for (int i = 0; i < 8 && next.empty(); ++i) next = stream.next_chunk(stopping);
  EXPECT_EQ(next, "id: 54\nevent: record\ndata: {\"type\":\"epoch\",\"epoch\":2}\n\n");
}

// A real ledger holding the real user's account: free credits, a hold and a charge for a run.
struct DashboardLedger : ::testing::Test {
  LedgerFixture f;
  std::string user = accounting::real_caller().user;
  void SetUp() override { ::setenv("SHRIKE_LEDGER", (f.dir / "ledger.db").c_str(), 1); }
  void TearDown() override { ::unsetenv("SHRIKE_LEDGER"); }
};

TEST_F(DashboardLedger, BalancesHoldsAndChargesPerRunReadOnly) {
  {
    accounting::HoldRequest request;
    request.job_key = "local:hold-1";
    request.account = request.user = user;
    request.project = "coco";
    request.run = "exp2";
    request.instance = "rtx4090";
    request.gpus = 1;
    request.estimated_seconds = 3600;
    request.timed = true;
    accounting::place_hold_in(*f.ledger, f.config, f.catalog, request);
    accounting::ImmediateTransaction transaction(f.ledger->db());
    accounting::TransactionSpec charge;
    charge.key = "charge:test:1";
    charge.kind = "charge";
    charge.attribution = {user, user, "coco", "exp", "rtx4090", "local", "", "2026-01-10", 3600};
    charge.amount = 740'000;
    charge.entries = {{accounting::wallet_account(user), -740'000}, {accounting::kRevenueAccount, 740'000}};
    ASSERT_TRUE(f.ledger->post(charge));
    transaction.commit();
  }
  const auto before = fs::last_write_time(f.dir / "ledger.db");
  const accounting::AccountBalances expected = accounting::read_account_balances(*f.ledger, user);

  dashboard::LedgerView view;
  EXPECT_EQ(view.path(), f.dir / "ledger.db");
  EXPECT_EQ(view.access(), "file");
  std::string note;
  const dashboard::AccountView account = view.account(user, {}, note);
  EXPECT_EQ(note, "");
  EXPECT_TRUE(account.exists);
  EXPECT_EQ(account.available, expected.available);
  EXPECT_EQ(account.held, expected.held);
  EXPECT_EQ(account.credited, expected.credited);
  ASSERT_EQ(account.holds.size(), 1u);
  EXPECT_EQ(account.holds[0].run, "exp2");
  EXPECT_GT(account.holds[0].held, 0);
  EXPECT_EQ(account.holds[0].remaining, account.holds[0].held);
  ASSERT_EQ(account.charges_per_run.size(), 1u);
  EXPECT_EQ(account.charges_per_run[0].run, "exp");
  EXPECT_EQ(account.charges_per_run[0].amount, 740'000);
  EXPECT_EQ(account.charges_per_run[0].gpu_seconds, 3600);
  EXPECT_EQ(account.history.size(), 3u);  // open, hold, charge
  EXPECT_EQ(account.history[0].kind, "charge");
  EXPECT_EQ(account.history[0].wallet_change, -740'000);

  const dashboard::RunCosts costs = view.run_costs({}, note);
  EXPECT_EQ(costs.at({user, "coco", "exp"}), 740'000);
  EXPECT_EQ(fs::last_write_time(f.dir / "ledger.db"), before);
  const nlohmann::json json = dashboard::account_view_json(account);
  EXPECT_DOUBLE_EQ(json.at("charges_per_run").at(0).at("amount").get<double>(), 0.74);
}

TEST(DashboardLedgerMissing, NoLedgerIsANormalStateAndStaysMissing) {
  TempDir dir;
  ::setenv("SHRIKE_LEDGER", (dir / "site" / "ledger.db").c_str(), 1);
  dashboard::LedgerView view;
  EXPECT_FALSE(view.present());
  EXPECT_EQ(view.access(), "none");
  std::string note;
  EXPECT_FALSE(view.account("anyone", {}, note).exists);
  EXPECT_TRUE(view.run_costs({}, note).empty());
  EXPECT_EQ(note, "");
  EXPECT_FALSE(fs::exists(dir / "site"));
  write_text(dir / "site" / "ledger.db", "this is not SQLite");
  EXPECT_FALSE(view.account("anyone", {}, note).exists);
  EXPECT_NE(note, "");  // the reason, not an exception
  ::unsetenv("SHRIKE_LEDGER");
}

TEST(DashboardRegistry, ReadsJobsWithoutCreatingTheFile) {
  TempDir dir;
  dashboard::RegistryView missing(dir / "jobs.db");
  std::string note;
  EXPECT_FALSE(missing.present());
  EXPECT_TRUE(missing.jobs(note).empty());
  EXPECT_FALSE(fs::exists(dir / "jobs.db"));
  {
    scheduler::JobRegistry registry(dir / "jobs.db");
    scheduler::JobRecord job;
    job.cluster = "c";
    job.job_id = "4242";
    job.account = job.user = "alice";
    job.project = "coco";
    job.run = "exp";
    job.run_dir = (dir / "runs" / "coco" / "exp").string();
    job.instance = "rtx4090";
    job.state = "running";
    job.submitted_at = job.updated_at = "2026-01-10T10:00:00Z";
    registry.add({job});
  }
  const auto jobs = missing.jobs(note);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].job_id, "4242");
  EXPECT_EQ(jobs[0].state, "running");
  EXPECT_EQ(note, "");
}

}  // namespace
}  // namespace shrike::test
