// accounting/helper_protocol.h
//
// What the library and the setuid helper `shrike-ledger` say to each other: requests
// as command-line arguments (a hold request as one JSON argument), answers as one
// JSON object on standard output, failures as "error: ..." on standard error with
// exit 1. One place for the JSON shapes so both sides agree.
#pragma once

#include <nlohmann/json.hpp>

#include "accounting/credit_service.h"
#include "accounting/settlement.h"
#include "accounting/wallet.h"

namespace shrike::accounting {

nlohmann::json hold_request_to_json(const HoldRequest& request);
HoldRequest hold_request_from_json(const nlohmann::json& json);
nlohmann::json hold_grant_to_json(const HoldGrant& grant);
HoldGrant hold_grant_from_json(const nlohmann::json& json);
nlohmann::json balances_to_json(const std::string& account, const AccountBalances& balances);
AccountBalances balances_from_json(const nlohmann::json& json);
nlohmann::json history_to_json(const std::vector<HistoryRow>& rows);
std::vector<HistoryRow> history_from_json(const nlohmann::json& json);

nlohmann::json settle_result_to_json(const SettleResult& result);
SettleResult settle_result_from_json(const nlohmann::json& json);

// Parses the helper's standard output (InternalError naming the text when not JSON).
nlohmann::json parse_helper_output(const std::string& text);

}  // namespace shrike::accounting
