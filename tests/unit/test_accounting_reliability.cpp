// tests/unit/test_accounting_reliability.cpp: the ledger under stress, with real
// processes and real SQLite files:
//  - 8 processes settle 50 overlapping usage segments each (shared segments, repeated
//    settles, and views of a segment whose end is still growing): the revenue equals
//    the expected sum exactly and every segment is charged exactly once for its time;
//  - a property test: random sequences of grants, top-ups, holds, charges, releases
//    and refunds keep every invariant (each transaction sums to zero, balances equal
//    the sum of their entries, holds never negative and empty once closed, and each
//    account's balance = credited - charged).
// (Killing a settle with SIGKILL mid-batch is tests/integration/accounting_crash.sh.)
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "accounting/holds.h"
#include "accounting/settle_plan.h"
#include "accounting/settlement.h"
#include "accounting/time_text.h"
#include "accounting/wallet.h"
#include "pipeline/core/error.h"
#include "tests/unit/accounting_fixture.h"

namespace shrike::test {
namespace {

using namespace shrike::accounting;
namespace fs = std::filesystem;

struct PoolSegment {
  int run = 0;
  std::int64_t start = 0, full_seconds = 0;
  int gpus = 0;
};

// 25 runs x 4 segments in January 2026 (one price: 0.74/GPU-h), deterministic.
std::vector<PoolSegment> segment_pool() {
  std::vector<PoolSegment> pool;
  std::mt19937 random(7);
  const std::int64_t base = *parse_iso8601_utc("2026-01-05T00:00:00Z");
  for (int run = 0; run < 25; ++run) {
    std::int64_t at = base + run * 86400;
    for (int s = 0; s < 4; ++s) {
      const std::int64_t seconds = 60 + random() % 7200;
      pool.push_back({run, at, seconds, 1 + static_cast<int>(random() % 4)});
      at += seconds + 60 + random() % 600;
    }
  }
  return pool;
}

// Writes process `p`'s view: for each run, the chosen segments, some cut short.
std::vector<fs::path> write_view(const fs::path& root, int p, const std::vector<PoolSegment>& pool,
                                 const std::vector<std::pair<int, std::int64_t>>& chosen) {
  std::map<int, std::vector<std::pair<int, std::int64_t>>> by_run;  // run -> (pool index, seconds)
  for (const auto& [index, seconds] : chosen) by_run[pool[index].run].push_back({index, seconds});
  std::vector<fs::path> dirs;
  for (auto& [run, items] : by_run) {
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end(), [](auto& a, auto& b) { return a.first == b.first; }), items.end());
    std::string segments;
    for (const auto& [index, seconds] : items) {
      segments += fmt::format("{}{{\"start\": \"{}\", \"end\": \"{}\", \"gpus\": {}}}", segments.empty() ? "" : ", ",
                              format_unix_utc(pool[index].start), format_unix_utc(pool[index].start + seconds),
                              pool[index].gpus);
    }
    const fs::path dir = root / fmt::format("p{}", p) / fmt::format("run{:02}", run);
    write_text(dir / "usage.json",
               fmt::format(R"({{"account": "acct{}", "user": "u", "project": "stress", "run": "run{:02}",
 "instance": "rtx4090", "gpus": 1, "segments": [{}]}})", run % 3, run, segments));
    dirs.push_back(dir);
  }
  return dirs;
}

TEST(AccountingReliability, EightProcessesSettlingOverlappingSegmentsChargeEachOnce) {
  LedgerFixture f;
  const std::vector<PoolSegment> pool = segment_pool();
  std::mt19937 random(11);
  std::map<int, std::int64_t> max_seconds;  // pool index -> longest view settled
  std::vector<std::vector<fs::path>> work(8);
  for (int p = 0; p < 8; ++p) {
    std::vector<std::pair<int, std::int64_t>> chosen;
    while (chosen.size() < 50) {
      const int index = static_cast<int>(random() % pool.size());
      // A third of the views see a segment that is still running (its end not yet final).
      const bool partial = index % 3 == 0 && random() % 2 == 0;
      const std::int64_t seconds = partial ? pool[index].full_seconds / 2 : pool[index].full_seconds;
      chosen.push_back({index, seconds});  // duplicates welcome
      max_seconds[index] = std::max(max_seconds[index], seconds);
    }
    work[p] = write_view(f.dir.path(), p, pool, chosen);
    std::shuffle(work[p].begin(), work[p].end(), random);
  }
  // The expected revenue, computed independently: micro = round(gpus x s x 740000 / 3600).
  Micro expected = 0;
  for (const auto& [index, seconds] : max_seconds) {
    expected += (static_cast<Micro>(pool[index].gpus) * seconds * 740'000 + 1800) / 3600;
  }
  const fs::path ledger_path = f.dir / "ledger.db";
  std::vector<pid_t> children;
  for (int p = 0; p < 8; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int code = 0;
      try {
        Ledger ledger(ledger_path, fmt::format("proc{}", p));
        SettleOptions options;
        options.now = unix_now();
        options.default_user = "u";
        for (int round = 0; round < 2; ++round) {  // every process settles its batch twice
          for (const fs::path& dir : work[p]) settle_run_dirs(ledger, f.config, f.catalog, {dir}, options);
        }
      } catch (const std::exception& error) {
        fmt::print(stderr, "process {}: {}\n", p, error.what());
        code = 1;
      }
      ::_exit(code);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a settling process failed";
  }
  f.ledger = std::make_unique<Ledger>(ledger_path, "tester");
  EXPECT_EQ(f.balance(kRevenueAccount), expected);
  EXPECT_EQ(f.count("SELECT count(*) FROM segment_charges"), static_cast<std::int64_t>(max_seconds.size()));
  for (const auto& [index, seconds] : max_seconds) {
    const std::string key = fmt::format("local:local:acct{}/stress/run{:02}:{}", pool[index].run % 3, pool[index].run,
                                        pool[index].start);
    EXPECT_EQ(f.count(fmt::format("SELECT charged_seconds FROM segment_charges WHERE segment_key = '{}'", key)), seconds)
        << key;
    // A segment seen only whole is charged by exactly one transaction.
    if (seconds == pool[index].full_seconds && index % 3 != 0) {
      EXPECT_EQ(f.count(fmt::format("SELECT count(*) FROM transactions WHERE idempotency_key LIKE 'charge:{}:%'", key)), 1)
          << key;
    }
  }
  f.expect_consistent();
}

// ---- property test --------------------------------------------------------------------------

struct PropertyRun {
  LedgerFixture f;
  std::mt19937 random;
  std::vector<std::string> accounts = {"ann", "ben", "cat"};
  std::vector<std::string> hold_keys;
  std::map<std::string, std::int64_t> segment_end;  // segment key -> seconds so far
  int next = 0;

  explicit PropertyRun(unsigned seed) : random(seed) { f.config.free_credits_micro = 3'000'000; }

  const std::string& any_account() { return accounts[random() % accounts.size()]; }
  Micro any_amount() { return 1 + static_cast<Micro>(random() % 5'000'000); }

  void step() {
    switch (random() % 6) {
      case 0:
        credit_wallet(*f.ledger, f.config, WalletCredit::grant, any_account(), any_amount(), "", "");
        break;
      case 1:
        credit_wallet(*f.ledger, f.config, random() % 2 ? WalletCredit::topup : WalletCredit::refund, any_account(),
                      any_amount(), "", random() % 4 ? "" : fmt::format("k{}", random() % 8));
        break;
      case 2: {
        HoldRequest r;
        r.job_key = fmt::format("c:{}", next++);
        r.account = any_account();
        r.instance = random() % 2 ? "rtx4090" : "cpu";
        r.gpus = 1 + static_cast<int>(random() % 8);
        r.estimated_seconds = static_cast<double>(random() % 20000);
        r.timed = random() % 2 == 0;
        try {
          place_hold_in(*f.ledger, f.config, f.catalog, r);
          hold_keys.push_back(r.job_key);
        } catch (const UserError&) {
          // Not enough credits: refused, which is also a legal outcome.
        }
        break;
      }
      case 3:
      case 4:
        charge_random_segment();
        break;
      case 5:
        if (!hold_keys.empty()) release_hold_in(*f.ledger, hold_keys[random() % hold_keys.size()], "test");
        break;
    }
  }

  void charge_random_segment() {
    ChargeSegment segment;
    const bool with_hold = !hold_keys.empty() && random() % 2 == 0;
    if (with_hold) {
      const auto hold = find_hold(*f.ledger, hold_keys[random() % hold_keys.size()]);
      segment.who.account = hold->account;
      segment.who.instance = hold->instance;
      segment.gpus = hold->gpus;
      segment.hold_key = hold->job_key;
      segment.segment_key = hold->job_key + ":run0";
    } else {
      segment.who.account = any_account();
      segment.who.instance = "rtx4090";
      segment.gpus = 2;
      segment.segment_key = fmt::format("local:{}:{}", segment.who.account, random() % 10);
    }
    segment.start = *parse_iso8601_utc("2026-01-20T00:00:00Z");
    std::int64_t& seconds = segment_end[segment.segment_key];
    seconds += static_cast<std::int64_t>(random() % 4000);  // the segment grows (or repeats)
    segment.end = segment.start + seconds;
    segment.source = "test";
    charge_segments(*f.ledger, f.config, f.catalog, {segment}, random() % 3 == 0 && with_hold
                                                                ? std::vector<std::string>{segment.hold_key}
                                                                : std::vector<std::string>{});
  }

  void check_invariants() {
    const auto problems = check_ledger_invariants(*f.ledger);
    ASSERT_TRUE(problems.empty()) << fmt::format("{}", fmt::join(problems, "\n"));
    for (const std::string& account : accounts) {
      const AccountBalances b = read_account_balances(*f.ledger, account);
      if (!b.exists) continue;
      const Micro charged = f.count(fmt::format(
          "SELECT coalesce(sum(amount_micro), 0) FROM transactions WHERE kind = 'charge' AND account = '{}'", account));
      EXPECT_EQ(b.balance(), b.credited - charged) << account;
      EXPECT_GE(b.held, 0) << account;
    }
    EXPECT_EQ(f.count("SELECT count(*) FROM holds h JOIN accounts a ON a.name = 'hold:' || h.job_key "
                      "WHERE a.balance_micro > h.hold_micro"), 0);
  }
};

TEST(AccountingReliability, RandomOperationsKeepEveryInvariant) {
  for (unsigned seed : {1u, 2u, 3u}) {
    PropertyRun run(seed);
    for (int i = 1; i <= 600; ++i) {
      run.step();
      if (i % 50 == 0) {
        run.check_invariants();
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
    EXPECT_GT(run.f.count("SELECT count(*) FROM transactions WHERE kind = 'charge'"), 50) << "seed " << seed;
    EXPECT_GT(run.f.count("SELECT count(*) FROM transactions WHERE kind = 'release'"), 5) << "seed " << seed;
  }
}

}  // namespace
}  // namespace shrike::test
