// bench/ledger_bench.cpp: the ledger's figures for bench/RESULTS.md (issue 8).
//   1. settlements per second with synchronous=FULL (every commit fsynced), one process
//      settling run folders one by one (one transaction each), and 8 processes at once
//      on the same ledger (BEGIN IMMEDIATE serialises them);
//   2. report generation time on a ledger of 1 million entries, for each grouping.
// Usage: bench_ledger [--settles N] [--entries N] [--dir FOLDER]
// The folder (default: a new one under /tmp) must be on the file system the ledger
// will live on: fsync cost is the figure.
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "accounting/accounting_config.h"
#include "accounting/instance_catalog.h"
#include "accounting/ledger.h"
#include "accounting/report.h"
#include "accounting/settle_plan.h"
#include "accounting/time_text.h"

namespace acc = shrike::accounting;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `count` run folders under `root`, each one local segment of 1-4 rtx4090 GPUs.
std::vector<fs::path> write_runs(const fs::path& root, int count, int offset) {
  std::vector<fs::path> dirs;
  for (int i = 0; i < count; ++i) {
    const fs::path dir = root / fmt::format("run{:06}", offset + i);
    fs::create_directories(dir);
    const std::int64_t start = 1767225600 + (offset + i) * 600LL;  // 2026-01-01 onwards
    std::ofstream(dir / "usage.json") << fmt::format(
        R"({{"account": "acct{}", "user": "u", "project": "bench", "run": "run{:06}", "instance": "rtx4090",
 "gpus": {}, "segments": [{{"start": "{}", "end": "{}"}}]}})",
        i % 50, offset + i, 1 + i % 4, acc::format_unix_utc(start), acc::format_unix_utc(start + 300 + i % 200));
    dirs.push_back(dir);
  }
  return dirs;
}

void settle_each(const fs::path& ledger_path, const std::vector<fs::path>& dirs, const acc::AccountingConfig& config,
                 const acc::InstanceCatalog& catalog) {
  acc::Ledger ledger(ledger_path, "bench");
  acc::SettleOptions options;
  options.now = acc::unix_now();
  options.default_user = std::string("bench");
  for (const fs::path& dir : dirs) acc::settle_run_dirs(ledger, config, catalog, {dir}, options);
}

void bench_settles(const fs::path& root, int settles, const acc::AccountingConfig& config,
                   const acc::InstanceCatalog& catalog) {
  {
    const std::vector<fs::path> dirs = write_runs(root / "single", settles, 0);
    const auto start = Clock::now();
    settle_each(root / "single.db", dirs, config, catalog);
    const double elapsed = seconds_since(start);
    fmt::print("settle, 1 process:    {} settlements in {:.2f} s = {:.0f} /s ({:.2f} ms each)\n", settles, elapsed,
               settles / elapsed, elapsed * 1000 / settles);
  }
  const int per_process = settles / 8;
  std::vector<std::vector<fs::path>> work;
  for (int p = 0; p < 8; ++p) work.push_back(write_runs(root / "eight", per_process, p * per_process));
  { acc::Ledger create(root / "eight.db", "bench"); }
  const auto start = Clock::now();
  std::vector<pid_t> children;
  for (int p = 0; p < 8; ++p) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      settle_each(root / "eight.db", work[p], config, catalog);
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) ::waitpid(pid, nullptr, 0);
  const double elapsed = seconds_since(start);
  acc::Ledger check(root / "eight.db", "bench");
  fmt::print("settle, 8 processes:  {} settlements in {:.2f} s = {:.0f} /s (ledger consistent: {})\n",
             8 * per_process, elapsed, 8 * per_process / elapsed, acc::check_ledger_invariants(check).empty());
}

// `entries` ledger entries as charge transactions of 2 entries (wallet -> revenue),
// 20,000 per SQLite transaction (a bulk load, not settlement).
void fill_ledger(acc::Ledger& ledger, std::int64_t entries) {
  const std::int64_t transactions = entries / 2;
  std::int64_t done = 0;
  while (done < transactions) {
    acc::ImmediateTransaction batch(ledger.db());
    for (int i = 0; i < 20'000 && done < transactions; ++i, ++done) {
      acc::TransactionSpec spec;
      spec.key = fmt::format("charge:bench:{}", done);
      spec.kind = "charge";
      spec.amount = 1 + done % 100'000;
      spec.attribution = {fmt::format("acct{}", done % 200), fmt::format("user{}", done % 300),
                          fmt::format("proj{}", done % 40), fmt::format("run{}", done % 5000),
                          done % 3 ? "rtx4090" : "h100-80gb", "bench", std::to_string(100'000 + done / 4),
                          acc::utc_day_of(1767225600 + done * 60), 600};
      spec.entries = {{acc::wallet_account(spec.attribution.account), -spec.amount}, {acc::kRevenueAccount, spec.amount}};
      ledger.post(spec);
    }
    batch.commit();
  }
}

void bench_report(const fs::path& root, std::int64_t entries) {
  acc::Ledger ledger(root / "million.db", "bench");
  const auto fill_start = Clock::now();
  fill_ledger(ledger, entries);
  fmt::print("filled {} entries in {:.1f} s (bulk load)\n", entries, seconds_since(fill_start));
  for (const char* group : {"account", "user", "project", "instance", "job", "day", "month"}) {
    const auto start = Clock::now();
    const acc::UsageReport report = acc::build_usage_report(ledger, group, "", "");
    const std::string text = acc::render_usage_report(report, "csv");
    fmt::print("report --by {:<8} {:>7} rows in {:.2f} s (total = revenue: {})\n", group, report.rows.size(),
               seconds_since(start), report.total.credits == report.revenue_balance);
  }
  const auto start = Clock::now();
  const acc::UsageReport month = acc::build_usage_report(ledger, "day", "2026-03-01", "2026-03-31");
  fmt::print("report --by day --from 2026-03-01 --to 2026-03-31: {} rows in {:.2f} s\n", month.rows.size(),
             seconds_since(start));
}

}  // namespace

int main(int argc, char** argv) {
  int settles = 800;
  std::int64_t entries = 1'000'000;
  fs::path root;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--settles") settles = std::atoi(argv[i + 1]);
    else if (flag == "--entries") entries = std::atoll(argv[i + 1]);
    else if (flag == "--dir") root = argv[i + 1];
  }
  if (root.empty()) {
    char pattern[] = "/tmp/shrike-ledger-bench.XXXXXX";
    root = ::mkdtemp(pattern);
  }
  const acc::AccountingConfig config;
  const acc::InstanceCatalog catalog = acc::load_instance_catalog();
  fmt::print("ledger bench in {} (synchronous=FULL, WAL)\n", root.string());
  bench_settles(root, settles, config, catalog);
  bench_report(root, entries);
  fs::remove_all(root);
  return 0;
}
