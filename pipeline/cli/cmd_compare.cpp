// pipeline/cli/cmd_compare.cpp: `shrike compare RUN_DIR... | PROJECT_DIR`: one row
// per run (state, epochs, best epoch and its mAP, final mAP50-95, time) plus a column
// for every setting that differs between the runs' config.yaml, as a table, CSV or
// JSON; `--plot` overlays the runs' results curves in one SVG. It answers "which of
// these runs is better, and what did I change?" without opening each folder.
#include <fmt/core.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/train/results_plot.h"
#include "pipeline/train/run_summary.h"

namespace shrike::cli {

namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;
using nlohmann::json;
using train::RunSummary;

CommandSpec compare_spec() {
  CommandSpec spec;
  spec.name = "compare";
  spec.usage = "shrike compare RUN_DIR... | PROJECT_DIR [--format table|csv|json] [--plot FILE.svg]";
  spec.description =
      "Compare training runs: one row per run with its state, epochs, best epoch (the one in\n"
      "weights/best.h5) and that epoch's mAP50 and mAP50-95, the last epoch's mAP50-95 and the\n"
      "training time, then one column for each setting that differs between the runs'\n"
      "config.yaml. A PROJECT_DIR stands for every run folder directly under it. Runs that are\n"
      "still training are read as they are now.";
  spec.options.add_options()
      ("runs", po::value<std::vector<std::string>>()->required()->value_name("DIR"),
       "run folders and/or project folders (positional)")
      ("format,f", po::value<std::string>()->default_value("table")->value_name("F"), "table, csv or json")
      ("plot", po::value<std::string>()->value_name("FILE.svg"),
       "also write the runs' results curves overlaid (one colour per run)");
  spec.positional.add("runs", -1);
  spec.epilog =
      "Examples:\n"
      "  shrike compare runs/detect                        every run of the project\n"
      "  shrike compare runs/detect/exp runs/detect/exp2 --plot compare.svg\n"
      "  shrike compare runs/detect --format csv > runs.csv\n"
      "  shrike compare runs/detect --format json | jq '.runs[] | {run, best_map50_95}'";
  return spec;
}

// Run labels: the folder name, or project/name when two runs share a name.
std::vector<std::string> run_labels(const std::vector<RunSummary>& runs) {
  std::map<std::string, int> count;
  for (const RunSummary& run : runs) ++count[run.name];
  std::vector<std::string> labels;
  for (const RunSummary& run : runs) labels.push_back(count[run.name] > 1 ? run.project + "/" + run.name : run.name);
  return labels;
}

std::string setting_text(const RunSummary& run, const std::string& key) {
  return run.experiment ? run.experiment->text(key) : std::string();
}

std::string fixed4(std::optional<double> value) { return value ? fmt::format("{:.4f}", *value) : "-"; }
std::string general(std::optional<double> value) { return value ? fmt::format("{:.6g}", *value) : ""; }

std::string epochs_text(const RunSummary& run) {
  return run.epochs > 0 ? fmt::format("{}/{}", run.epochs_done, run.epochs) : std::to_string(run.epochs_done);
}

// ---- table --------------------------------------------------------------------------------

void print_table(const std::vector<RunSummary>& runs, const std::vector<std::string>& keys) {
  std::vector<std::vector<std::string>> rows = {
      {"run", "state", "epoch", "best", "best mAP50", "best mAP50-95", "final mAP50-95", "train time"}};
  for (const std::string& key : keys) rows[0].push_back(key);
  const std::vector<std::string> labels = run_labels(runs);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunSummary& run = runs[i];
    std::vector<std::string> cells = {labels[i],
                                      train::state_text(run),
                                      epochs_text(run),
                                      run.best_epoch ? std::to_string(*run.best_epoch) : "-",
                                      fixed4(run.best_map50),
                                      fixed4(run.best_map50_95),
                                      fixed4(run.final_map50_95()),
                                      train::format_duration(run.elapsed_seconds)};
    for (const std::string& key : keys) cells.push_back(run.experiment ? setting_text(run, key) : "-");
    rows.push_back(std::move(cells));
  }
  std::vector<std::size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) line += fmt::format("{:<{}}  ", row[c], widths[c]);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
  }
}

// ---- csv ----------------------------------------------------------------------------------

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void print_csv(const std::vector<RunSummary>& runs, const std::vector<std::string>& keys) {
  // Named so that no setting column (epochs, time, project ...) can take the same name.
  std::vector<std::string> header = {"run", "state", "epochs_done", "epochs_planned", "best_epoch",
                                     "best_mAP50", "best_mAP50-95", "final_mAP50-95", "time_s", "dir"};
  header.insert(header.end(), keys.begin(), keys.end());
  auto print_line = [](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t c = 0; c < cells.size(); ++c) line += (c ? "," : "") + csv_cell(cells[c]);
    fmt::print("{}\n", line);
  };
  print_line(header);
  const std::vector<std::string> labels = run_labels(runs);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunSummary& run = runs[i];
    std::vector<std::string> cells = {labels[i],
                                      train::state_text(run),
                                      std::to_string(run.epochs_done),
                                      std::to_string(run.epochs),
                                      run.best_epoch ? std::to_string(*run.best_epoch) : "",
                                      general(run.best_map50),
                                      general(run.best_map50_95),
                                      general(run.final_map50_95()),
                                      fmt::format("{:.1f}", run.elapsed_seconds),
                                      run.dir.string()};
    for (const std::string& key : keys) cells.push_back(setting_text(run, key));
    print_line(cells);
  }
}

// ---- json ---------------------------------------------------------------------------------

json optional_json(std::optional<double> value) { return value ? json(*value) : json(nullptr); }

void print_json(const std::vector<RunSummary>& runs, const std::vector<std::string>& keys) {
  json out = {{"differing_settings", keys}, {"runs", json::array()}};
  for (const RunSummary& run : runs) {
    json settings = json::object();
    for (const std::string& key : keys) {
      settings[key] = run.experiment ? json(setting_text(run, key)) : json(nullptr);
    }
    out["runs"].push_back({{"run", run.name},
                           {"project", run.project},
                           {"dir", run.dir.string()},
                           {"state", train::state_text(run)},
                           {"reason", run.reason},
                           {"epochs_done", run.epochs_done},
                           {"epochs_planned", run.epochs},
                           {"best_epoch", run.best_epoch ? json(*run.best_epoch) : json(nullptr)},
                           {"best_map50", optional_json(run.best_map50)},
                           {"best_map50_95", optional_json(run.best_map50_95)},
                           {"final_map50_95", optional_json(run.final_map50_95())},
                           {"time_s", run.elapsed_seconds},
                           {"settings", settings}});
  }
  fmt::print("{}\n", out.dump(2));
}

void write_plot(const fs::path& path, const std::vector<RunSummary>& runs) {
  std::vector<train::LabelledResults> curves;
  const std::vector<std::string> labels = run_labels(runs);
  for (std::size_t i = 0; i < runs.size(); ++i) curves.push_back({labels[i], runs[i].rows});
  train::write_results_svg(path, curves);
  fmt::print(stderr, "wrote {} ({} runs overlaid)\n", path.string(), runs.size());
}

}  // namespace

int run_compare(const Args& args) {
  CommandSpec spec = compare_spec();
  auto values = parse_options(spec, args);
  if (!values) return kExitOk;
  const std::string format = (*values)["format"].as<std::string>();
  if (format != "table" && format != "csv" && format != "json") {
    fail_user("shrike compare: --format {} is not one of table, csv, json", format);
  }
  std::vector<RunSummary> runs;
  for (const fs::path& dir : train::resolve_run_dirs((*values)["runs"].as<std::vector<std::string>>())) {
    runs.push_back(train::read_run_summary(dir));
    for (const std::string& note : runs.back().notes) fmt::print(stderr, "warning: {}: {}\n", dir.string(), note);
  }
  const std::vector<std::string> keys = train::differing_settings(runs);
  if (format == "table") print_table(runs, keys);
  if (format == "csv") print_csv(runs, keys);
  if (format == "json") print_json(runs, keys);
  if (values->count("plot")) write_plot((*values)["plot"].as<std::string>(), runs);
  return kExitOk;
}

}  // namespace shrike::cli
