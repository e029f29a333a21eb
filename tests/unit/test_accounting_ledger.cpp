// tests/unit/test_accounting_ledger.cpp: the ledger's building blocks against real
// SQLite: exact money text, the instance catalogue and its errors, pricing across a
// price change, double-entry posting with idempotency keys, immutable entries, schema
// versions, wallets, holds (timed, epoch capped, minimum refused, release), reports
// that add up to the revenue account, and online backup.
#include <gtest/gtest.h>

#include "accounting/credit_service.h"
#include "accounting/holds.h"
#include "accounting/ledger_backup.h"
#include "accounting/ledger_schema.h"
#include "accounting/pricing.h"
#include "accounting/report.h"
#include "accounting/time_text.h"
#include "accounting/wallet.h"
#include "pipeline/core/error.h"
#include "tests/unit/accounting_fixture.h"

namespace shrike::test {
namespace {

using namespace shrike::accounting;

TEST(AccountingMoney, ParsesAndFormatsExactly) {
  EXPECT_EQ(parse_credits("12.5", "x"), 12'500'000);
  EXPECT_EQ(parse_credits("-3", "x"), -3'000'000);
  EXPECT_EQ(parse_credits("0.000001", "x"), 1);
  EXPECT_EQ(parse_credits(".5", "x"), 500'000);
  EXPECT_THROW(parse_credits("1.0000001", "x"), UserError);  // seven decimals
  EXPECT_THROW(parse_credits("1e3", "x"), UserError);
  EXPECT_THROW(parse_credits("", "x"), UserError);
  EXPECT_THROW(parse_credits("99999999999999999999", "x"), UserError);  // overflow refused, not wrapped
  EXPECT_EQ(format_credits(12'345'678), "12.35");
  EXPECT_EQ(format_credits(-5'000), "-0.01");
  EXPECT_EQ(format_credits(-4'999), "0.00");
  EXPECT_EQ(format_credits_exact(-12'345'678), "-12.345678");
  EXPECT_THROW(checked_add(std::numeric_limits<Micro>::max() / 2, std::numeric_limits<Micro>::max() / 2, "x"),
               UserError);
}

TEST(AccountingCatalog, SiteCatalogueHasTheContractPrices) {
  const InstanceCatalog catalog = load_instance_catalog(std::filesystem::path(SHRIKE_SOURCE_DIR) / "configs/instances.yaml");
  const std::vector<std::pair<std::string, double>> expected = {
      {"rtx3090", 0.44}, {"rtx4090", 0.74}, {"l40s", 1.14}, {"a100-40gb", 1.29}, {"a100-80gb", 1.99}, {"h100-80gb", 3.99}};
  for (const auto& [id, price] : expected) {
    EXPECT_DOUBLE_EQ(catalog.per_gpu_hour_at(id, std::chrono::system_clock::now()), price) << id;
    EXPECT_FALSE(catalog.at(id).is_cpu()) << id;
  }
  EXPECT_TRUE(catalog.at("cpu").is_cpu());
  EXPECT_EQ(catalog.at("h100-80gb").slurm.partition, "gpu");
  try {
    catalog.at("tpu-v5");
    FAIL() << "unknown id accepted";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("rtx3090, rtx4090"), std::string::npos) << error.what();
  }
}

TEST(AccountingCatalog, ErrorsNameFileLineAndKey) {
  TempDir dir;
  write_text(dir / "bad.yaml", "version: 1\ninstances:\n  x1:\n    gpu: g\n    prices:\n      - {effective_from: \"2025-13-01\", per_gpu_hour: 1}\n    slurm: {partition: gpu}\n");
  try {
    load_instance_catalog(dir / "bad.yaml");
    FAIL() << "bad date accepted";
  } catch (const UserError& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("bad.yaml line 6"), std::string::npos) << text;
    EXPECT_NE(text.find("instances.x1.prices.effective_from"), std::string::npos) << text;
  }
  write_text(dir / "neg.yaml", "instances:\n  x1:\n    gpu: g\n    prices: [{effective_from: \"2025-01-01\", per_gpu_hour: -1}]\n    slurm: {partition: gpu}\n");
  EXPECT_THROW(load_instance_catalog(dir / "neg.yaml"), UserError);
  write_text(dir / "order.yaml", "instances:\n  x1:\n    gpu: g\n    prices: [{effective_from: \"2026-01-01\", per_gpu_hour: 1}, {effective_from: \"2025-01-01\", per_gpu_hour: 2}]\n    slurm: {partition: gpu}\n");
  EXPECT_THROW(load_instance_catalog(dir / "order.yaml"), UserError);
  EXPECT_THROW(load_instance_catalog(dir / "missing.yaml"), UserError);
}

TEST(AccountingPricing, ChargesTheRateInForceWhenTheComputeRan) {
  LedgerFixture f;
  const InstanceType& type = f.catalog.at("rtx4090");
  const std::int64_t before = *parse_iso8601_utc("2026-05-31T23:00:00Z");
  // 2 GPUs x 1 h before the change at 0.74, then 2 GPUs x 1 h after it at 1.00.
  EXPECT_EQ(usage_cost_micro(type, f.config, 2, before - 3600, 3600), 1'480'000);
  EXPECT_EQ(usage_cost_micro(type, f.config, 2, before, 7200), 1'480'000 + 2'000'000);
  EXPECT_EQ(usage_cost_micro(type, f.config, 1, *parse_iso8601_utc("2026-07-01T00:00:00Z"), 3600), 1'000'000);
  // One second of one GPU at 0.74/h = 205.555... micro-credits: rounding as configured.
  EXPECT_EQ(usage_cost_micro(type, f.config, 1, before - 7200, 1), 206);
  f.config.rounding = Rounding::down;
  EXPECT_EQ(usage_cost_micro(type, f.config, 1, before - 7200, 1), 205);
  f.config.charge_increment_seconds = 60;
  EXPECT_EQ(billable_seconds(61, f.config), 120);
  EXPECT_EQ(billable_seconds(0, f.config), 0);
  EXPECT_THROW(usage_cost_micro(type, f.config, 1, *parse_iso8601_utc("2024-06-01T00:00:00Z"), 60), UserError);
  EXPECT_THROW(usage_cost_micro(type, f.config, 100'000, before - 3600 * 24 * 400, 3600LL * 24 * 365 * 30), UserError);
}

TransactionSpec grant_spec(const std::string& key, Micro to_wallet, Micro from_promotions) {
  TransactionSpec spec;
  spec.key = key;
  spec.kind = "grant";
  spec.attribution.account = "alice";
  spec.amount = to_wallet;
  spec.entries = {{kPromotionsAccount, -from_promotions}, {wallet_account("alice"), to_wallet}};
  return spec;
}

TEST(AccountingLedger, TransactionsBalanceAndKeysAreUnique) {
  LedgerFixture f;
  ImmediateTransaction transaction(f.ledger->db());
  const TransactionSpec spec = grant_spec("t1", 5, 5);
  EXPECT_TRUE(f.ledger->post(spec));
  EXPECT_FALSE(f.ledger->post(spec));  // same key: written once
  const TransactionSpec unbalanced = grant_spec("t2", 4, 5);
  EXPECT_THROW(f.ledger->post(unbalanced), InternalError);
  transaction.commit();
  EXPECT_EQ(f.balance(wallet_account("alice")), 5);
  EXPECT_EQ(f.count("SELECT count(*) FROM transactions"), 1);
  // Entries are never edited or deleted: the triggers refuse.
  EXPECT_THROW(f.ledger->db().exec("UPDATE entries SET amount_micro = 0"), std::exception);
  EXPECT_THROW(f.ledger->db().exec("DELETE FROM transactions"), std::exception);
  f.expect_consistent();
}

TEST(AccountingLedger, SchemaIsVersionedAndNewerLedgersAreRefused) {
  LedgerFixture f;
  EXPECT_EQ(f.count("SELECT version FROM schema_version"), current_schema_version());
  EXPECT_EQ(f.count("PRAGMA synchronous"), 2);  // FULL
  f.ledger->db().exec("UPDATE schema_version SET version = 99");
  f.ledger.reset();
  EXPECT_THROW(Ledger(f.dir / "ledger.db", "tester"), UserError);
}

TEST(AccountingLedger, LedgerFileIsPrivate) {
  LedgerFixture f;
  const auto perms = std::filesystem::status(f.dir / "ledger.db").permissions();
  EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
            std::filesystem::perms::none);
}

TEST(AccountingWallet, OpensWithFreeCreditsAndCreditsIdempotently) {
  LedgerFixture f;
  EXPECT_TRUE(credit_wallet(*f.ledger, f.config, WalletCredit::topup, "alice", 10'000'000, "invoice", "inv-1"));
  EXPECT_FALSE(credit_wallet(*f.ledger, f.config, WalletCredit::topup, "alice", 10'000'000, "invoice", "inv-1"));
  EXPECT_TRUE(credit_wallet(*f.ledger, f.config, WalletCredit::grant, "alice", 2'000'000, "course", ""));
  const AccountBalances b = read_account_balances(*f.ledger, "alice");
  EXPECT_EQ(b.available, f.config.free_credits_micro + 12'000'000);
  EXPECT_EQ(b.credited, b.available);
  EXPECT_THROW(credit_wallet(*f.ledger, f.config, WalletCredit::grant, "alice", -1, "", ""), UserError);
  EXPECT_THROW(credit_wallet(*f.ledger, f.config, WalletCredit::grant, "bad name", 1, "", ""), UserError);
  reverse_credit(*f.ledger, "topup:inv-1", "typo");
  EXPECT_EQ(read_account_balances(*f.ledger, "alice").available, f.config.free_credits_micro + 2'000'000);
  EXPECT_THROW(reverse_credit(*f.ledger, "topup:inv-1", ""), UserError);  // once
  EXPECT_THROW(reverse_credit(*f.ledger, "open:alice", ""), UserError);   // not a top-up or grant
  EXPECT_EQ(account_history(*f.ledger, "alice", 10).size(), 4u);
  f.expect_consistent();
}

HoldRequest request(const std::string& key, double seconds, bool timed, int gpus = 2) {
  HoldRequest r;
  r.job_key = key;
  r.account = "alice";
  r.user = "alice";
  r.instance = "rtx4090";
  r.gpus = gpus;
  r.estimated_seconds = seconds;
  r.timed = timed;
  return r;
}

TEST(AccountingHolds, TimedHoldsTheEstimateEpochIsCappedMinimumRefused) {
  LedgerFixture f;  // alice opens with 5 credits; rtx4090 costs 1.00/GPU-h from 2026-06-01
  f.config.free_credits_micro = 5'000'000;
  const Micro rate = rate_micro_per_gpu_hour(f.catalog.at("rtx4090"), f.config, unix_now());
  ASSERT_EQ(rate, 1'000'000) << "this test assumes the clock is past 2026-06-01";
  const HoldGrant timed = place_hold_in(*f.ledger, f.config, f.catalog, request("c:1", 3600, true));
  EXPECT_EQ(timed.hold_micro, 2'000'000);  // 2 GPUs x 1 h
  EXPECT_DOUBLE_EQ(timed.credit_limit, 2.0);
  EXPECT_DOUBLE_EQ(timed.rate_per_hour, 1.0);
  EXPECT_DOUBLE_EQ(timed.balance_after, 3.0);
  // Idempotent on the job key: the same grant, nothing new held.
  EXPECT_EQ(place_hold_in(*f.ledger, f.config, f.catalog, request("c:1", 3600, true)).hold_micro, 2'000'000);
  EXPECT_EQ(f.balance(wallet_account("alice")), 3'000'000);
  // A timed run whose estimate exceeds what is free is refused, naming the numbers.
  try {
    place_hold_in(*f.ledger, f.config, f.catalog, request("c:2", 4 * 3600, true));
    FAIL() << "over-budget timed hold accepted";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("3.00 credits available"), std::string::npos) << error.what();
  }
  // An epoch run holds its estimate capped at what is free.
  EXPECT_EQ(place_hold_in(*f.ledger, f.config, f.catalog, request("c:3", 10 * 3600, false)).hold_micro, 3'000'000);
  EXPECT_EQ(f.balance(wallet_account("alice")), 0);
  // Nothing free: below the minimum (15 GPU-minutes), refused with the topup command.
  try {
    place_hold_in(*f.ledger, f.config, f.catalog, request("c:4", 600, false));
    FAIL() << "hold without credits accepted";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("shrike credits topup"), std::string::npos) << error.what();
  }
  const AccountBalances b = read_account_balances(*f.ledger, "alice");
  EXPECT_EQ(b.held, 5'000'000);
  EXPECT_EQ(b.balance(), 5'000'000);
  // Release returns what is left; a second release changes nothing.
  EXPECT_EQ(release_hold_in(*f.ledger, "c:1", "cancelled"), 2'000'000);
  EXPECT_EQ(release_hold_in(*f.ledger, "c:1", "cancelled"), 0);
  EXPECT_EQ(f.balance(wallet_account("alice")), 2'000'000);
  bind_hold_in(*f.ledger, "c:3", "c", "4242");
  bind_hold_in(*f.ledger, "c:3", "c", "4242");  // a repeat is fine
  EXPECT_THROW(bind_hold_in(*f.ledger, "c:3", "c", "4243"), UserError);
  EXPECT_EQ(find_holds_by_job(*f.ledger, "c", "4242").size(), 1u);
  f.expect_consistent();
}

// The scheduler's entry points (credit_service.h) on the ledger SHRIKE_LEDGER names,
// with the site catalogue (rtx4090 at 0.74/GPU-h) and policy (5 free credits).
TEST(AccountingCreditService, HoldBindReleaseSummaryAndAlerts) {
  TempDir dir;
  ::setenv("SHRIKE_LEDGER", (dir / "ledger.db").c_str(), 1);
  EXPECT_FALSE(account_summary("carol").exists);  // no ledger yet: nothing is created
  EXPECT_FALSE(std::filesystem::exists(dir / "ledger.db"));
  EXPECT_FALSE(balance_alert("carol"));
  HoldRequest r = request("site:abc", 3600, true, 1);
  r.account = "carol";
  const HoldGrant grant = place_hold(r);
  EXPECT_EQ(grant.hold_micro, 740'000);
  EXPECT_DOUBLE_EQ(grant.rate_per_hour, 0.74);
  EXPECT_EQ(place_hold(r).hold_micro, 740'000);  // idempotent
  bind_hold_to_job("site:abc", "site", "77");
  AccountSummary summary = account_summary("carol");
  EXPECT_TRUE(summary.exists);
  EXPECT_DOUBLE_EQ(summary.held, 0.74);
  EXPECT_DOUBLE_EQ(summary.available, 4.26);
  EXPECT_DOUBLE_EQ(summary.balance, 5.0);
  EXPECT_FALSE(balance_alert("carol"));
  release_hold("site:abc");
  EXPECT_DOUBLE_EQ(account_summary("carol").available, 5.0);
  // Spend 85% of the 5 credits, then more than all of them: two alert levels.
  Ledger ledger(dir / "ledger.db", "tester");
  auto spend = [&](const std::string& key, Micro amount) {
    TransactionSpec charge;
    charge.key = key;
    charge.kind = "charge";
    charge.amount = amount;
    charge.attribution.account = "carol";
    charge.entries = {{wallet_account("carol"), -amount}, {kRevenueAccount, amount}};
    ImmediateTransaction t(ledger.db());
    ledger.post(charge);
    t.commit();
  };
  spend("charge:a", 4'250'000);
  const auto eighty = balance_alert("carol");
  ASSERT_TRUE(eighty);
  EXPECT_NE(eighty->find("used 85% of its credits (passed 80%)"), std::string::npos) << *eighty;
  spend("charge:b", 1'000'000);
  const auto all = balance_alert("carol");
  ASSERT_TRUE(all);
  EXPECT_NE(all->find("has used all its credits (balance -0.25"), std::string::npos) << *all;
  HoldRequest next = request("site:def", 60, false, 1);
  next.account = "carol";
  EXPECT_THROW(place_hold(next), UserError);  // below zero: no new job starts
  ::unsetenv("SHRIKE_LEDGER");
}

TEST(AccountingReport, TotalsAddUpToTheRevenueAccount) {
  LedgerFixture f;
  for (int i = 0; i < 3; ++i) {
    TransactionSpec charge;
    charge.key = fmt::format("charge:x{}", i);
    charge.kind = "charge";
    charge.amount = 1'000'001 + i;
    charge.attribution = {i == 2 ? "bob" : "alice", "u", "p", "r", i ? "cpu" : "rtx4090", "local", "", "", 3600};
    charge.attribution.usage_day = i == 0 ? "2026-10-31" : "2026-11-01";
    charge.entries = {{wallet_account(charge.attribution.account), -charge.amount}, {kRevenueAccount, charge.amount}};
    ImmediateTransaction t(f.ledger->db());
    f.ledger->post(charge);
    t.commit();
  }
  credit_wallet(*f.ledger, f.config, WalletCredit::refund, "alice", 1, "goodwill", "r1");
  for (const char* group : {"account", "user", "project", "instance", "job", "day", "month"}) {
    const UsageReport report = build_usage_report(*f.ledger, group, "", "");
    Micro sum = 0;
    std::int64_t seconds = 0;
    for (const ReportRow& row : report.rows) {
      sum += row.credits;
      seconds += row.gpu_seconds;
    }
    EXPECT_EQ(sum, report.total.credits) << group;
    EXPECT_EQ(seconds, report.total.gpu_seconds) << group;
    EXPECT_EQ(report.total.credits, report.revenue_balance) << group;
    EXPECT_EQ(report.total.credits, 3'000'006 - 1) << group;
  }
  const UsageReport november = build_usage_report(*f.ledger, "day", "2026-11", "2026-11");
  EXPECT_EQ(november.total.gpu_seconds, 7200);
  EXPECT_THROW(build_usage_report(*f.ledger, "colour", "", ""), UserError);
  EXPECT_THROW(build_usage_report(*f.ledger, "day", "yesterday", ""), UserError);
  const std::string csv = render_usage_report(build_usage_report(*f.ledger, "account", "", ""), "csv");
  EXPECT_NE(csv.find("total,10800,3.0000,3.000005,4"), std::string::npos) << csv;
}

TEST(AccountingBackup, CopiesALiveLedgerConsistently) {
  LedgerFixture f;
  credit_wallet(*f.ledger, f.config, WalletCredit::topup, "alice", 7'000'000, "", "k");
  EXPECT_GT(backup_ledger(*f.ledger, f.dir / "copy.db"), 0);
  Ledger copy(f.dir / "copy.db", "tester");
  EXPECT_EQ(copy.balance(wallet_account("alice")), f.balance(wallet_account("alice")));
  EXPECT_TRUE(check_ledger_invariants(copy).empty());
}

}  // namespace
}  // namespace shrike::test
