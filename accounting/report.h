// accounting/report.h
//
// `shrike accounting report`: GPU-hours and credits charged, grouped by account, user,
// project, instance type, job, day or month over a date range, with a total row.
// Credits are charges net of refunds; every figure is summed from integer micro-
// credits and GPU-seconds in SQL, so rows add up to the total exactly and the
// all-time total equals the site revenue account's balance (JSON carries both).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "accounting/ledger.h"

namespace shrike::accounting {

struct ReportRow {
  std::string key;
  std::int64_t gpu_seconds = 0;
  Micro credits = 0;
  std::int64_t charges = 0;  // number of charge and refund transactions
};

struct UsageReport {
  std::string group, from, to;  // from/to: YYYY-MM-DD, "" = open
  std::vector<ReportRow> rows;
  ReportRow total;
  Micro revenue_balance = 0;    // site:revenue now (all time)
};

// `group`: account, user, project, instance, job, day, month (UserError otherwise).
// `from`/`to`: inclusive UTC days of the compute, YYYY-MM-DD or YYYY-MM, "" = open.
UsageReport build_usage_report(Ledger& ledger, const std::string& group, const std::string& from, const std::string& to);

// `format`: table, csv or json.
std::string render_usage_report(const UsageReport& report, const std::string& format);

}  // namespace shrike::accounting
