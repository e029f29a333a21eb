// accounting/report.cpp: grouped sums in SQL, rendered as a table, CSV or JSON.
#include "accounting/report.h"

#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "pipeline/core/error.h"

namespace shrike::accounting {

namespace {

const std::map<std::string, std::string> kGroupColumns = {
    {"account", "account"},
    {"user", "user"},
    {"project", "account || '/' || project"},
    {"instance", "instance"},
    {"job", "CASE WHEN job_id != '' THEN cluster || ':' || job_id "
            "ELSE 'local:' || account || '/' || project || '/' || run END"},
    {"day", "usage_day"},
    {"month", "substr(usage_day, 1, 7)"},
};

// "2026-11" -> "2026-11-01" (from) or "2026-11-31" (to, a bound that string-compares right).
std::string day_bound(const std::string& text, bool upper, const char* option) {
  if (text.empty()) return text;
  const bool day = text.size() == 10 && text[4] == '-' && text[7] == '-';
  const bool month = text.size() == 7 && text[4] == '-';
  const bool digits = std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || c == '-'; });
  if (!digits || (!day && !month)) {
    fail_user("{} '{}' is not a date; write YYYY-MM-DD or YYYY-MM (UTC).", option, text);
  }
  return month ? text + (upper ? "-31" : "-01") : text;
}

std::string gpu_hours(std::int64_t gpu_seconds) { return fmt::format("{:.4f}", gpu_seconds / 3600.0); }

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string render_table(const UsageReport& report) {
  std::vector<std::vector<std::string>> rows = {{report.group, "GPU-hours", "credits", "charges"}};
  for (const ReportRow& row : report.rows) {
    rows.push_back({row.key, fmt::format("{:.2f}", row.gpu_seconds / 3600.0), format_credits(row.credits),
                    std::to_string(row.charges)});
  }
  rows.push_back({"total", fmt::format("{:.2f}", report.total.gpu_seconds / 3600.0), format_credits(report.total.credits),
                  std::to_string(report.total.charges)});
  std::vector<std::size_t> widths(4, 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::string text;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (r + 1 == rows.size()) text += std::string(widths[0] + widths[1] + widths[2] + widths[3] + 6, '-') + "\n";
    text += fmt::format("{:<{}}  {:>{}}  {:>{}}  {:>{}}\n", rows[r][0], widths[0], rows[r][1], widths[1], rows[r][2],
                        widths[2], rows[r][3], widths[3]);
  }
  text += fmt::format("({}, compute days {} .. {}; credits net of refunds; CSV and JSON carry exact figures)\n",
                      report.rows.size() == 1 ? "1 row" : fmt::format("{} rows", report.rows.size()),
                      report.from.empty() ? "start" : report.from, report.to.empty() ? "now" : report.to);
  return text;
}

std::string render_csv(const UsageReport& report) {
  std::string text = fmt::format("{},gpu_seconds,gpu_hours,credits,charges\n", report.group);
  auto line = [&](const ReportRow& row) {
    text += fmt::format("{},{},{},{},{}\n", csv_cell(row.key), row.gpu_seconds, gpu_hours(row.gpu_seconds),
                        format_credits_exact(row.credits), row.charges);
  };
  for (const ReportRow& row : report.rows) line(row);
  ReportRow total = report.total;
  total.key = "total";
  line(total);
  return text;
}

std::string render_json(const UsageReport& report) {
  using nlohmann::ordered_json;
  auto row_json = [](const ReportRow& row) {
    return ordered_json{{"key", row.key}, {"gpu_seconds", row.gpu_seconds}, {"gpu_hours", row.gpu_seconds / 3600.0},
                        {"credits", format_credits_exact(row.credits)}, {"credits_micro", row.credits},
                        {"charges", row.charges}};
  };
  ordered_json rows = ordered_json::array();
  for (const ReportRow& row : report.rows) rows.push_back(row_json(row));
  ordered_json total = row_json(report.total);
  total.erase("key");
  const ordered_json out = {{"group", report.group},
                            {"from", report.from.empty() ? ordered_json(nullptr) : ordered_json(report.from)},
                            {"to", report.to.empty() ? ordered_json(nullptr) : ordered_json(report.to)},
                            {"rows", rows},
                            {"total", total},
                            {"revenue_balance_micro", report.revenue_balance}};
  return out.dump(2) + "\n";
}

}  // namespace

UsageReport build_usage_report(Ledger& ledger, const std::string& group, const std::string& from, const std::string& to) {
  const auto column = kGroupColumns.find(group);
  if (column == kGroupColumns.end()) {
    fail_user("--by {} is not a report grouping; use account, user, project, instance, job, day or month.", group);
  }
  UsageReport report;
  report.group = group;
  report.from = day_bound(from, false, "--from");
  report.to = day_bound(to, true, "--to");
  const std::string where =
      "WHERE kind IN ('charge', 'refund') AND (?1 = '' OR usage_day >= ?1) AND (?2 = '' OR usage_day <= ?2)";
  const std::string sums =
      "coalesce(sum(gpu_seconds), 0), coalesce(sum(CASE kind WHEN 'charge' THEN amount_micro ELSE -amount_micro END), 0), "
      "count(*)";
  ReadTransaction snapshot(ledger.db());
  Statement rows = ledger.db().prepare(
      fmt::format("SELECT {} AS grouping, {} FROM transactions {} GROUP BY grouping ORDER BY grouping", column->second,
                  sums, where));
  rows.bind(1, report.from).bind(2, report.to);
  while (rows.step()) {
    report.rows.push_back({rows.column_text(0), rows.column_int64(1), rows.column_int64(2), rows.column_int64(3)});
  }
  Statement total = ledger.db().prepare(fmt::format("SELECT {} FROM transactions {}", sums, where));
  total.bind(1, report.from).bind(2, report.to);
  if (total.step()) report.total = {"total", total.column_int64(0), total.column_int64(1), total.column_int64(2)};
  report.revenue_balance = ledger.balance(kRevenueAccount).value_or(0);
  return report;
}

std::string render_usage_report(const UsageReport& report, const std::string& format) {
  if (format == "table") return render_table(report);
  if (format == "csv") return render_csv(report);
  if (format == "json") return render_json(report);
  fail_user("--format {} is not one of table, csv, json.", format);
}

}  // namespace shrike::accounting
