// accounting/settlement.cpp: the incremental charge of usage segments.
#include "accounting/settlement.h"

#include <fmt/core.h>

#include <algorithm>
#include <optional>

#include "accounting/holds.h"
#include "accounting/pricing.h"
#include "accounting/time_text.h"
#include "accounting/wallet.h"
#include "pipeline/core/error.h"
#include "pipeline/core/utc_time.h"

namespace shrike::accounting {

namespace {

struct ChargedSoFar {
  std::string account, instance;
  int gpus = 0;
  std::int64_t start = 0, seconds = 0;
  Micro micro = 0;
};

std::optional<ChargedSoFar> charged_so_far(Ledger& ledger, const std::string& key) {
  Statement select = ledger.db().prepare(
      "SELECT account, instance, gpus, start_unix, charged_seconds, charged_micro FROM segment_charges "
      "WHERE segment_key = ?");
  if (!select.bind(1, key).step()) return std::nullopt;
  return ChargedSoFar{select.column_text(0), select.column_text(1), static_cast<int>(select.column_int64(2)),
                      select.column_int64(3), select.column_int64(4), select.column_int64(5)};
}

void require_consistent(const ChargeSegment& segment, const ChargedSoFar& before) {
  if (before.account == segment.who.account && before.instance == segment.who.instance &&
      before.gpus == segment.gpus && before.start == segment.start) {
    return;
  }
  fail_user("segment {} was charged before as {} GPU(s) of {} from {} for account '{}', but now reads {} GPU(s) "
            "of {} from {} for '{}'. A segment's identity never changes: nothing was written. Check {} for edits.",
            segment.segment_key, before.gpus, before.instance, format_unix_utc(before.start), before.account,
            segment.gpus, segment.who.instance, format_unix_utc(segment.start), segment.who.account, segment.source);
}

void record_charged(Ledger& ledger, const ChargeSegment& segment, std::int64_t seconds, Micro micro) {
  ledger.db()
      .prepare("INSERT INTO segment_charges (segment_key, account, instance, gpus, start_unix, charged_seconds, "
               "charged_micro, source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (segment_key) DO UPDATE SET charged_seconds = excluded.charged_seconds, "
               "charged_micro = excluded.charged_micro, source = excluded.source, updated_at = excluded.updated_at")
      .bind(1, segment.segment_key).bind(2, segment.who.account).bind(3, segment.who.instance).bind(4, segment.gpus)
      .bind(5, segment.start).bind(6, seconds).bind(7, micro).bind(8, segment.source).bind(9, utc_timestamp_now())
      .run();
}

// The entries of a charge of `amount`: out of the open hold first, then the wallet.
std::vector<EntrySpec> charge_entries(Ledger& ledger, const ChargeSegment& segment, Micro amount) {
  Micro from_hold = 0;
  if (!segment.hold_key.empty()) {
    const auto hold = find_hold(ledger, segment.hold_key);
    if (hold && hold->state == "open") from_hold = std::min(amount, std::max<Micro>(0, hold->remaining_micro));
  }
  std::vector<EntrySpec> entries;
  if (from_hold > 0) entries.push_back({hold_account(segment.hold_key), -from_hold});
  if (amount - from_hold > 0 || from_hold == 0) entries.push_back({wallet_account(segment.who.account), -(amount - from_hold)});
  entries.push_back({kRevenueAccount, amount});
  return entries;
}

SegmentResult charge_one(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                         const ChargeSegment& segment) {
  SegmentResult result;
  result.segment_key = segment.segment_key;
  const auto before = charged_so_far(ledger, segment.segment_key);
  if (before) require_consistent(segment, *before);
  result.seconds_before = before ? before->seconds : 0;
  const std::int64_t seconds = billable_seconds(segment.end - segment.start, config);
  result.seconds_after = std::max(seconds, result.seconds_before);
  if (seconds <= result.seconds_before) {
    if (seconds < result.seconds_before) result.note = "shorter than already charged; nothing to charge";
    return result;
  }
  const InstanceType& type = catalog.at(segment.who.instance);
  const Micro cost = usage_cost_micro(type, config, segment.gpus, segment.start, seconds);
  const Micro already = before ? before->micro : 0;
  const Micro amount = std::max<Micro>(0, cost - already);
  ensure_account_open(ledger, config, segment.who.account);
  TransactionSpec spec;
  spec.key = fmt::format("charge:{}:{}", segment.segment_key, seconds);
  spec.kind = "charge";
  spec.memo = fmt::format("{} GPU(s) of {}, {} s .. {} s of the segment from {} ({})", segment.gpus,
                          segment.who.instance, result.seconds_before, seconds, format_unix_utc(segment.start),
                          segment.source);
  spec.attribution = segment.who;
  spec.attribution.usage_day = utc_day_of(segment.start + result.seconds_before);
  spec.attribution.gpu_seconds = (seconds - result.seconds_before) * segment.gpus;
  spec.amount = amount;
  spec.entries = charge_entries(ledger, segment, amount);
  if (!ledger.post(spec)) {
    fail_internal("charge {} exists but segment_charges says {} s were charged", spec.key, result.seconds_before);
  }
  record_charged(ledger, segment, seconds, already + amount);
  result.charged = amount;
  return result;
}

}  // namespace

void SettleResult::add(const SettleResult& other) {
  segments.insert(segments.end(), other.segments.begin(), other.segments.end());
  notes.insert(notes.end(), other.notes.begin(), other.notes.end());
  closed.insert(closed.end(), other.closed.begin(), other.closed.end());
  charged += other.charged;
  released += other.released;
}

SettleResult charge_segments(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                             const std::vector<ChargeSegment>& segments, const std::vector<std::string>& holds_to_close) {
  SettleResult result;
  ImmediateTransaction transaction(ledger.db());
  for (const ChargeSegment& segment : segments) {
    result.segments.push_back(charge_one(ledger, config, catalog, segment));
    result.charged = checked_add(result.charged, result.segments.back().charged, segment.segment_key);
  }
  for (const std::string& job_key : holds_to_close) {
    const auto hold = find_hold(ledger, job_key);
    if (!hold || hold->state == "closed") continue;
    result.released += release_hold_locked(ledger, job_key, "job ended: the rest of its hold is released");
    result.closed.push_back(job_key);
  }
  transaction.commit();
  return result;
}

}  // namespace shrike::accounting
