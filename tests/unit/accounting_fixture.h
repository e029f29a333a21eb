// tests/unit/accounting_fixture.h
//
// What the accounting tests share: a fresh ledger in a temporary folder, a small
// instance catalogue with a price change on 2026-06-01 (rtx4090 0.74 -> 1.00 $/GPU-h)
// and a cpu type, the default accounting policy, usage.json writers, and the
// invariant check every test ends with.
#pragma once

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "accounting/accounting_config.h"
#include "accounting/instance_catalog.h"
#include "accounting/ledger.h"
#include "tests/unit/test_support.h"

namespace shrike::test {

inline constexpr const char* kTestCatalog = R"(version: 1
instances:
  rtx4090:
    gpu: "NVIDIA GeForce RTX 4090"
    gpu_memory_gb: 24
    relative_speed: 0.55
    cpus_per_gpu: 8
    memory_gb_per_gpu: 48
    prices:
      - {effective_from: "2025-01-01", per_gpu_hour: 0.74}
      - {effective_from: "2026-06-01", per_gpu_hour: 1.00}
    slurm: {partition: gpu, gres_type: rtx4090, constraint: ""}
  pricey:
    gpu: "a GPU priced at the catalogue's maximum"
    prices: [{effective_from: "2025-01-01", per_gpu_hour: 1000000}]
    slurm: {partition: gpu, gres_type: pricey, constraint: ""}
  cpu:
    gpu: none
    prices: [{effective_from: "2025-01-01", per_gpu_hour: 0.05}]
    slurm: {partition: cpu, gres_type: "", constraint: ""}
)";

struct LedgerFixture {
  TempDir dir;
  accounting::AccountingConfig config;
  accounting::InstanceCatalog catalog;
  std::unique_ptr<accounting::Ledger> ledger;

  LedgerFixture() {
    write_text(dir / "instances.yaml", kTestCatalog);
    catalog = accounting::load_instance_catalog(dir / "instances.yaml");
    ledger = std::make_unique<accounting::Ledger>(dir / "ledger.db", "tester");
  }

  std::int64_t count(const std::string& sql) {
    accounting::Statement select = ledger->db().prepare(sql);
    select.step();
    return select.column_int64(0);
  }
  accounting::Micro balance(const std::string& account_name) { return ledger->balance(account_name).value_or(0); }
  void expect_consistent() {
    const auto problems = accounting::check_ledger_invariants(*ledger);
    EXPECT_TRUE(problems.empty()) << fmt::format("{}", fmt::join(problems, "\n"));
  }
};

// A run folder with a usage.json of `segments` ({start, end} UTC strings) on `gpus` rtx4090.
inline std::filesystem::path write_usage_run(const std::filesystem::path& dir, const std::string& run,
                                             const std::vector<std::pair<std::string, std::string>>& segments,
                                             int gpus = 2, const std::string& account = "alice",
                                             const std::string& extra_top = "") {
  std::string list;
  for (const auto& [start, end] : segments) {
    list += fmt::format("{}{{\"start\": \"{}\", \"end\": \"{}\"}}", list.empty() ? "" : ", ", start, end);
  }
  const std::filesystem::path folder = dir / run;
  write_text(folder / "usage.json",
             fmt::format(R"({{"version": 1, "cluster": "local", "account": "{}", "user": "{}", "project": "p",
 "run": "{}", "instance": "rtx4090", "gpus": {}{}, "segments": [{}]}})",
                         account, account, run, gpus, extra_top, list));
  return folder;
}

}  // namespace shrike::test
