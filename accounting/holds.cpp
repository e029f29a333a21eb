// accounting/holds.cpp: placing, binding and releasing holds in the ledger.
#include "accounting/holds.h"

#include <fmt/core.h>

#include <algorithm>

#include "accounting/pricing.h"
#include "accounting/time_text.h"
#include "accounting/wallet.h"
#include "pipeline/core/error.h"
#include "pipeline/core/utc_time.h"

namespace shrike::accounting {

namespace {

constexpr const char* kHoldColumns =
    "h.job_key, h.account, h.user, h.project, h.run, h.run_dir, h.instance, h.state, coalesce(h.cluster, ''), "
    "coalesce(h.job_id, ''), h.gpus, h.timed, h.estimated_seconds, h.hold_micro, h.rate_micro_per_hour, "
    "coalesce(a.balance_micro, 0), h.created_at";

HoldRecord read_hold(const Statement& row) {
  HoldRecord hold;
  hold.job_key = row.column_text(0);
  hold.account = row.column_text(1);
  hold.user = row.column_text(2);
  hold.project = row.column_text(3);
  hold.run = row.column_text(4);
  hold.run_dir = row.column_text(5);
  hold.instance = row.column_text(6);
  hold.state = row.column_text(7);
  hold.cluster = row.column_text(8);
  hold.job_id = row.column_text(9);
  hold.gpus = static_cast<int>(row.column_int64(10));
  hold.timed = row.column_int64(11) != 0;
  hold.estimated_seconds = row.column_double(12);
  hold.hold_micro = row.column_int64(13);
  hold.rate_micro_per_hour = row.column_int64(14);
  hold.remaining_micro = row.column_int64(15);
  hold.created_at = row.column_text(16);
  return hold;
}

std::vector<HoldRecord> select_holds(Ledger& ledger, const std::string& where, const std::vector<std::string>& values) {
  Statement select = ledger.db().prepare(fmt::format(
      "SELECT {} FROM holds h LEFT JOIN accounts a ON a.name = 'hold:' || h.job_key {} ORDER BY h.created_at, h.job_key",
      kHoldColumns, where));
  for (std::size_t i = 0; i < values.size(); ++i) select.bind(static_cast<int>(i + 1), values[i]);
  std::vector<HoldRecord> holds;
  while (select.step()) holds.push_back(read_hold(select));
  return holds;
}

void check_request(const HoldRequest& request) {
  if (request.job_key.empty()) fail_user("a hold needs a job key (unique per submission).");
  if (request.gpus <= 0 || request.gpus > 100'000) {
    fail_user("a job of {} GPUs cannot be held for; gpus must be 1..100000.", request.gpus);
  }
  if (!(request.estimated_seconds >= 0) || request.estimated_seconds > 10.0 * 365 * 86400) {
    fail_user("an estimated run time of {} s is not plausible (0 .. 10 years).", request.estimated_seconds);
  }
}

HoldGrant grant_of(const HoldRecord& hold, Micro available) {
  return {hold.hold_micro, to_credits(hold.hold_micro), to_credits(hold.rate_micro_per_hour), to_credits(available)};
}

}  // namespace

Micro hold_amount_for(const HoldRequest& request, const AccountingConfig& config, Micro rate_micro_per_hour,
                      Micro available) {
  const Micro estimate = estimate_cost_micro(rate_micro_per_hour, request.gpus, request.estimated_seconds);
  const Micro minimum = std::max(
      estimate_cost_micro(rate_micro_per_hour, request.gpus, config.minimum_hold_gpu_minutes * 60.0),
      config.minimum_balance_micro);
  if (available <= config.minimum_balance_micro || available < minimum) {
    fail_user("account '{}' has {} credits available; starting a job needs at least {} ({} minutes of {} {} GPU(s)"
              "{}). Ask an admin to run `shrike credits topup --account {} --amount N`, then submit again.",
              request.account, format_credits(available), format_credits(std::max(minimum, Micro{1})),
              config.minimum_hold_gpu_minutes, request.gpus, request.instance,
              config.minimum_balance_micro > 0 ? fmt::format(", and more than the minimum balance {}",
                                                             format_credits(config.minimum_balance_micro))
                                               : std::string(),
              request.account);
  }
  if (request.timed) {
    if (estimate > available) {
      fail_user("account '{}' has {} credits available but this timed run holds its estimated cost, {} "
                "({:.2f} h on {} {} GPU(s)). Shorten time=, use fewer GPUs, or ask an admin to run "
                "`shrike credits topup --account {} --amount N`.",
                request.account, format_credits(available), format_credits(estimate),
                request.estimated_seconds / 3600.0, request.gpus, request.instance, request.account);
    }
    return estimate;
  }
  // An epoch run with no estimate may use everything that is free; its pause point is the hold.
  return request.estimated_seconds > 0 ? std::min(estimate, available) : available;
}

HoldGrant place_hold_in(Ledger& ledger, const AccountingConfig& config, const InstanceCatalog& catalog,
                        const HoldRequest& request) {
  check_request(request);
  const InstanceType& type = catalog.at(request.instance);
  ImmediateTransaction transaction(ledger.db());
  if (auto existing = find_hold(ledger, request.job_key)) {
    if (existing->account != request.account || existing->instance != request.instance) {
      fail_user("job key '{}' already holds credits for account '{}' on {}; a new submission needs a new key.",
                request.job_key, existing->account, existing->instance);
    }
    return grant_of(*existing, ledger.balance(wallet_account(request.account)).value_or(0));
  }
  ensure_account_open(ledger, config, request.account);
  const Micro rate = rate_micro_per_gpu_hour(type, config, unix_now());
  const Micro available = ledger.balance(wallet_account(request.account)).value_or(0);
  const Micro amount = hold_amount_for(request, config, rate, available);
  TransactionSpec spec;
  spec.key = "hold:" + request.job_key;
  spec.kind = "hold";
  spec.memo = fmt::format("{} {} GPU(s), {} hold", request.gpus, request.instance,
                          request.timed ? "timed" : "epoch");
  spec.attribution = {request.account, request.user, request.project, request.run, request.instance, "", "", "", 0};
  spec.amount = amount;
  spec.entries = {{wallet_account(request.account), -amount}, {hold_account(request.job_key), amount}};
  ledger.post(spec);
  ledger.db()
      .prepare("INSERT INTO holds (job_key, account, user, project, run, run_dir, instance, gpus, timed, "
               "estimated_seconds, hold_micro, rate_micro_per_hour, state, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)")
      .bind(1, request.job_key).bind(2, request.account).bind(3, request.user).bind(4, request.project)
      .bind(5, request.run).bind(6, request.run_dir).bind(7, request.instance).bind(8, request.gpus)
      .bind(9, request.timed ? 1 : 0).bind(10, request.estimated_seconds).bind(11, amount).bind(12, rate)
      .bind(13, utc_timestamp_now())
      .run();
  transaction.commit();
  return {amount, to_credits(amount), to_credits(rate), to_credits(available - amount)};
}

void bind_hold_in(Ledger& ledger, const std::string& job_key, const std::string& cluster, const std::string& job_id) {
  if (job_id.empty() || cluster.empty()) fail_user("binding hold '{}' needs a cluster and a Slurm job id.", job_key);
  ImmediateTransaction transaction(ledger.db());
  const auto hold = find_hold(ledger, job_key);
  if (!hold) fail_user("no hold has the job key '{}'; place_hold must run before sbatch.", job_key);
  if (hold->job_id == job_id && hold->cluster == cluster) return;  // a repeat
  if (!hold->job_id.empty()) {
    fail_user("hold '{}' is already bound to job {} on cluster {}.", job_key, hold->job_id, hold->cluster);
  }
  if (!find_holds_by_job(ledger, cluster, job_id).empty()) {
    fail_user("Slurm job {} on cluster {} already has a hold; a job id is bound once.", job_id, cluster);
  }
  ledger.db()
      .prepare("UPDATE holds SET cluster = ?, job_id = ? WHERE job_key = ?")
      .bind(1, cluster).bind(2, job_id).bind(3, job_key)
      .run();
  transaction.commit();
}

Micro release_hold_locked(Ledger& ledger, const std::string& job_key, const std::string& why) {
  const auto hold = find_hold(ledger, job_key);
  if (!hold) fail_user("no hold has the job key '{}'.", job_key);
  if (hold->state == "closed") return 0;
  const Micro remaining = hold->remaining_micro;
  TransactionSpec spec;
  spec.key = "release:" + job_key;
  spec.kind = "release";
  spec.memo = why;
  spec.attribution = {hold->account, hold->user, hold->project, hold->run, hold->instance, hold->cluster,
                      hold->job_id, "", 0};
  spec.amount = remaining;
  spec.entries = {{hold_account(job_key), -remaining}, {wallet_account(hold->account), remaining}};
  ledger.post(spec);
  ledger.db()
      .prepare("UPDATE holds SET state = 'closed', closed_at = ? WHERE job_key = ?")
      .bind(1, utc_timestamp_now()).bind(2, job_key)
      .run();
  return remaining;
}

Micro release_hold_in(Ledger& ledger, const std::string& job_key, const std::string& why) {
  ImmediateTransaction transaction(ledger.db());
  const Micro released = release_hold_locked(ledger, job_key, why);
  transaction.commit();
  return released;
}

std::optional<HoldRecord> find_hold(Ledger& ledger, const std::string& job_key) {
  auto holds = select_holds(ledger, "WHERE h.job_key = ?", {job_key});
  if (holds.empty()) return std::nullopt;
  return holds.front();
}

std::vector<HoldRecord> find_holds_by_job(Ledger& ledger, const std::string& cluster, const std::string& job_id) {
  if (cluster.empty()) return select_holds(ledger, "WHERE h.job_id = ?", {job_id});
  return select_holds(ledger, "WHERE h.job_id = ? AND h.cluster = ?", {job_id, cluster});
}

std::vector<HoldRecord> list_holds(Ledger& ledger, const std::string& state) {
  if (state.empty()) return select_holds(ledger, "", {});
  return select_holds(ledger, "WHERE h.state = ?", {state});
}

}  // namespace shrike::accounting
