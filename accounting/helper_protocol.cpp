// accounting/helper_protocol.cpp: JSON shapes of the helper's requests and answers.
#include "accounting/helper_protocol.h"

#include "pipeline/core/error.h"

namespace shrike::accounting {

using nlohmann::json;

json hold_request_to_json(const HoldRequest& r) {
  return {{"job_key", r.job_key}, {"account", r.account}, {"user", r.user}, {"project", r.project},
          {"run", r.run}, {"run_dir", r.run_dir}, {"instance", r.instance}, {"gpus", r.gpus},
          {"estimated_seconds", r.estimated_seconds}, {"timed", r.timed}};
}

HoldRequest hold_request_from_json(const json& j) {
  try {
    HoldRequest r;
    r.job_key = j.at("job_key").get<std::string>();
    r.account = j.at("account").get<std::string>();
    r.user = j.value("user", std::string());
    r.project = j.value("project", std::string());
    r.run = j.value("run", std::string());
    r.run_dir = j.value("run_dir", std::string());
    r.instance = j.at("instance").get<std::string>();
    r.gpus = j.at("gpus").get<int>();
    r.estimated_seconds = j.at("estimated_seconds").get<double>();
    r.timed = j.at("timed").get<bool>();
    return r;
  } catch (const json::exception& error) {
    fail_user("malformed hold request: {}", error.what());
  }
}

json hold_grant_to_json(const HoldGrant& g) {
  return {{"hold_micro", g.hold_micro}, {"credit_limit", g.credit_limit}, {"rate_per_hour", g.rate_per_hour},
          {"balance_after", g.balance_after}};
}

HoldGrant hold_grant_from_json(const json& j) {
  return {j.at("hold_micro").get<std::int64_t>(), j.at("credit_limit").get<double>(),
          j.at("rate_per_hour").get<double>(), j.at("balance_after").get<double>()};
}

json balances_to_json(const std::string& account, const AccountBalances& b) {
  return {{"account", account}, {"exists", b.exists}, {"available_micro", b.available}, {"held_micro", b.held},
          {"credited_micro", b.credited}};
}

AccountBalances balances_from_json(const json& j) {
  AccountBalances b;
  b.exists = j.at("exists").get<bool>();
  b.available = j.at("available_micro").get<Micro>();
  b.held = j.at("held_micro").get<Micro>();
  b.credited = j.at("credited_micro").get<Micro>();
  return b;
}

json history_to_json(const std::vector<HistoryRow>& rows) {
  json list = json::array();
  for (const HistoryRow& r : rows) {
    list.push_back({{"time", r.time}, {"kind", r.kind}, {"key", r.key}, {"memo", r.memo}, {"job_id", r.job_id},
                    {"instance", r.instance}, {"wallet_change_micro", r.wallet_change}, {"amount_micro", r.amount},
                    {"gpu_seconds", r.gpu_seconds}});
  }
  return {{"history", list}};
}

std::vector<HistoryRow> history_from_json(const json& j) {
  std::vector<HistoryRow> rows;
  for (const json& item : j.at("history")) {
    HistoryRow r;
    r.time = item.at("time").get<std::string>();
    r.kind = item.at("kind").get<std::string>();
    r.key = item.at("key").get<std::string>();
    r.memo = item.at("memo").get<std::string>();
    r.job_id = item.at("job_id").get<std::string>();
    r.instance = item.at("instance").get<std::string>();
    r.wallet_change = item.at("wallet_change_micro").get<Micro>();
    r.amount = item.at("amount_micro").get<Micro>();
    r.gpu_seconds = item.at("gpu_seconds").get<std::int64_t>();
    rows.push_back(std::move(r));
  }
  return rows;
}

json settle_result_to_json(const SettleResult& result) {
  json segments = json::array();
  for (const SegmentResult& s : result.segments) {
    segments.push_back({{"segment_key", s.segment_key}, {"seconds_before", s.seconds_before},
                        {"seconds_after", s.seconds_after}, {"charged_micro", s.charged}, {"note", s.note}});
  }
  return {{"segments", segments}, {"notes", result.notes}, {"closed", result.closed},
          {"charged_micro", result.charged}, {"released_micro", result.released}};
}

SettleResult settle_result_from_json(const json& j) {
  SettleResult result;
  for (const json& s : j.at("segments")) {
    result.segments.push_back({s.at("segment_key").get<std::string>(), s.at("seconds_before").get<std::int64_t>(),
                               s.at("seconds_after").get<std::int64_t>(), s.at("charged_micro").get<Micro>(),
                               s.at("note").get<std::string>()});
  }
  result.notes = j.at("notes").get<std::vector<std::string>>();
  result.closed = j.at("closed").get<std::vector<std::string>>();
  result.charged = j.at("charged_micro").get<Micro>();
  result.released = j.at("released_micro").get<Micro>();
  return result;
}

json parse_helper_output(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception& error) {
    fail_internal("the ledger helper answered something that is not JSON ({}): {}", error.what(), text.substr(0, 200));
  }
}

}  // namespace shrike::accounting
