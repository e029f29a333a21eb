// tests/unit/test_monitor_compare.cpp
//
// `shrike monitor` and `shrike compare` read run folders back. The folders here are
// written with the trainer's own writer (RunFolder), with known epochs, mAPs and times,
// so every expected value (best epoch, ETA, elapsed time, the settings that differ)
// follows from the numbers below by hand, not from running the reader once. One run is
// still "running" with a torn last line in metrics.jsonl, as a kill or a read racing
// the writer leaves it. The commands are run through the real binary.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pipeline/core/error.h"
#include "pipeline/train/experiment.h"
#include "pipeline/train/run_folder.h"
#include "pipeline/train/run_summary.h"
#include "tests/unit/test_support.h"

namespace shrike::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_text;
using test::run_shrike;
using test::TempDir;

const WallClock::time_point kT0 = parse_utc_iso8601("2026-11-01T10:00:00Z", "test");
WallClock::time_point at(int seconds) { return kT0 + std::chrono::seconds(seconds); }

void append_raw(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

struct Epoch {
  int epoch;
  double time, map50, map50_95;
  int best_epoch;
};

// One completed epoch as the trainer records it: the metrics.jsonl "epoch" record and the results.csv row.
void write_epoch(RunFolder& folder, const Epoch& e, int epochs) {
  ResultsRow row;
  row.epoch = e.epoch;
  row.time = e.time;
  row.train_box_loss = 2.0 / e.epoch;
  row.train_cls_loss = 1.0 / e.epoch;
  row.train_dfl_loss = 1.0;
  row.precision = 0.5;
  row.recall = 0.4;
  row.map50 = e.map50;
  row.map50_95 = e.map50_95;
  row.val_box_loss = row.val_cls_loss = row.val_dfl_loss = 1.5;
  row.lr_pg0 = row.lr_pg1 = row.lr_pg2 = 0.01;
  folder.append_results_row(row);
  folder.append_metrics("epoch",
                        {{"epoch", e.epoch}, {"epochs", epochs}, {"time", e.time}, {"box_loss", row.train_box_loss},
                         {"cls_loss", row.train_cls_loss}, {"dfl_loss", row.train_dfl_loss}, {"lr", {0.01, 0.01, 0.01}},
                         {"fitness", 0.1 * e.map50 + 0.9 * e.map50_95}, {"best_epoch", e.best_epoch},
                         {"precision", 0.5}, {"recall", 0.4}, {"mAP50", e.map50}, {"mAP50-95", e.map50_95},
                         {"val_box_loss", 1.5}, {"val_cls_loss", 1.5}, {"val_dfl_loss", 1.5}},
                        at(static_cast<int>(e.time)));
}

RunFolder start_run(const fs::path& project, const std::string& name, const std::vector<std::string>& settings) {
  RunFolder folder = RunFolder::create(project.string(), name, false);
  folder.write_config(Experiment::load("", settings).to_yaml());
  UsageIdentity identity;
  identity.instance = "cpu";
  identity.gpus = 1;
  folder.begin_segment(identity, kT0);
  folder.set_status(RunState::kRunning, "started", 0, std::nullopt, std::nullopt, kT0);
  folder.log_event("start", {{"epoch", 0}}, kT0);
  return folder;
}

// proj/exp: lr0=0.01, 3 epochs, completed in 125 s; best epoch 2 (mAP50-95 0.30), final 0.25.
// proj/exp2: lr0=0.02, epochs=5, running: 2 epochs done (10 s each), half of epoch 3,
// last record at 40 s; then a torn line.
struct Project {
  TempDir tmp;
  fs::path dir = tmp / "proj";
  Project() {
    RunFolder done = start_run(dir, "exp", {"lr0=0.01", "epochs=3"});
    write_epoch(done, {1, 40, 0.20, 0.10, 1}, 3);
    write_epoch(done, {2, 80, 0.50, 0.30, 2}, 3);
    write_epoch(done, {3, 120, 0.45, 0.25, 2}, 3);
    done.update_segment_end(at(125));
    done.log_event("finish", {{"reason", "epochs done"}}, at(125));
    done.set_status(RunState::kCompleted, "all 3 epochs done", 3, std::nullopt, std::nullopt, at(125));

    RunFolder live = start_run(dir, "exp", {"lr0=0.02", "epochs=5"});  // becomes exp2
    write_epoch(live, {1, 10, 0.08, 0.05, 1}, 5);
    write_epoch(live, {2, 20, 0.20, 0.12, 2}, 5);
    live.append_metrics("train", {{"epoch", 3}, {"batch", 5}, {"batches", 10}, {"box_loss", 0.6}, {"cls_loss", 0.3},
                                  {"dfl_loss", 1.0}, {"images_per_second", 123.5}}, at(30));
    live.append_metrics("system", {{"gpu_util", 87}, {"gpu_mem_gb", 10.5}}, at(40));
    live.update_segment_end(at(25));
    live.flush_durably();
  }
  fs::path run(const std::string& name) const { return dir / name; }
  void tear_live_stream() const { append_raw(dir / "exp2" / "metrics.jsonl", R"({"type": "epoch", "epoch": 3, "mAP5)"); }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// ---- summaries --------------------------------------------------------------------------

TEST(RunSummary, CompletedRun) {
  Project project;
  RunSummary s = read_run_summary(project.run("exp"));
  EXPECT_EQ(s.name, "exp");
  EXPECT_EQ(s.project, "proj");
  EXPECT_EQ(state_text(s), "completed");
  EXPECT_EQ(s.reason, "all 3 epochs done");
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.epochs_done, 3);
  EXPECT_EQ(s.epochs, 3);
  ASSERT_TRUE(s.best_epoch);
  EXPECT_EQ(*s.best_epoch, 2);
  EXPECT_DOUBLE_EQ(*s.best_map50, 0.50);
  EXPECT_DOUBLE_EQ(*s.best_map50_95, 0.30);
  EXPECT_DOUBLE_EQ(*s.final_map50_95(), 0.25);
  EXPECT_DOUBLE_EQ(s.elapsed_seconds, 125);  // usage.json's one segment
  EXPECT_FALSE(s.eta_seconds);
  ASSERT_TRUE(s.experiment);
  EXPECT_EQ(s.experiment->integer("epochs"), 3);
  EXPECT_TRUE(s.notes.empty());
}

TEST(RunSummary, RunningRunWithTornLastLine) {
  Project project;
  project.tear_live_stream();
  RunSummary s = read_run_summary(project.run("exp2"));
  EXPECT_EQ(state_text(s), "running");
  EXPECT_FALSE(s.finished());
  EXPECT_EQ(s.epochs_done, 2);
  EXPECT_EQ(s.epochs, 5);
  EXPECT_EQ(*s.best_epoch, 2);
  EXPECT_DOUBLE_EQ(*s.best_map50_95, 0.12);
  ASSERT_TRUE(s.progress);
  EXPECT_EQ(s.progress->epoch, 3);
  EXPECT_DOUBLE_EQ(*s.images_per_second, 123.5);
  EXPECT_EQ(s.system.at("gpu_util"), 87);
  // A running run's segment reaches the newest record (40 s), beyond usage.json's end (25 s).
  EXPECT_DOUBLE_EQ(s.elapsed_seconds, 40);
  // Mean epoch 10 s; 5 - 2 epochs left, half of epoch 3 done.
  ASSERT_TRUE(s.eta_seconds);
  EXPECT_DOUBLE_EQ(*s.eta_seconds, 25);
  EXPECT_TRUE(s.notes.empty()) << s.notes.front();  // a torn last line is not damage
}

TEST(RunSummary, WatcherReadsOnlyAppendedBytesAndWaitsForTheTornLine) {
  Project project;
  project.tear_live_stream();
  const fs::path stream = project.run("exp2") / "metrics.jsonl";
  RunWatcher watcher(project.run("exp2"));
  watcher.refresh();
  EXPECT_EQ(watcher.summary().epochs_done, 2);
  // The writer finishes the line: epoch 3 becomes the best.
  append_raw(stream, R"(0": 0.4, "mAP50-95": 0.2, "time": 30, "epochs": 5, "best_epoch": 3})" "\n");
  watcher.refresh();
  EXPECT_EQ(watcher.summary().epochs_done, 3);
  EXPECT_EQ(*watcher.summary().best_epoch, 3);
  EXPECT_DOUBLE_EQ(*watcher.summary().best_map50_95, 0.2);

  MetricsFollower follower(stream);
  EXPECT_EQ(follower.poll().records.size(), lines_of(read_text(stream)).size());
  EXPECT_TRUE(follower.poll().records.empty());  // nothing new: nothing re-read
  append_raw(stream, "{\"type\": \"event\", \"event\": \"pause\"}\n{\"type\"");
  EXPECT_EQ(follower.poll().records.size(), 1u);
  EXPECT_EQ(follower.bytes_consumed(), fs::file_size(stream) - 7);
}

TEST(RunSummary, ResumeFromAnOlderCheckpointDropsReplayedEpochs) {
  TempDir tmp;
  RunFolder folder = start_run(tmp / "p", "r", {"epochs=4"});
  write_epoch(folder, {1, 10, 0.1, 0.1, 1}, 4);
  write_epoch(folder, {2, 20, 0.3, 0.3, 2}, 4);
  folder.log_event("resume", {{"epoch", 1}}, at(30));
  RunWatcher watcher(folder.dir());
  watcher.refresh();
  EXPECT_EQ(watcher.summary().epochs_done, 1);
  write_epoch(folder, {2, 25, 0.2, 0.2, 2}, 4);
  watcher.refresh();
  ASSERT_EQ(watcher.summary().rows.size(), 2u);
  EXPECT_DOUBLE_EQ(*watcher.summary().rows[1].map50_95, 0.2);
}

TEST(RunSummary, FindsRunsAndDiffersOnlyInWhatWasChanged) {
  Project project;
  fs::create_directories(project.dir / "not_a_run");
  std::vector<fs::path> runs = find_runs(project.dir);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].filename(), "exp");
  EXPECT_EQ(runs[1].filename(), "exp2");
  std::vector<RunSummary> summaries = {read_run_summary(runs[0]), read_run_summary(runs[1])};
  EXPECT_EQ(differing_settings(summaries), (std::vector<std::string>{"epochs", "lr0"}));
  EXPECT_THROW(resolve_run_dirs({(project.dir / "not_a_run").string()}), UserError);
  EXPECT_EQ(format_duration(125), "2m05s");
  EXPECT_EQ(format_duration(3725), "1h02m");
}

// ---- shrike compare -----------------------------------------------------------------------

TEST(Compare, TableHasOneRowPerRunAndTheDifferingSettings) {
  Project project;
  project.tear_live_stream();
  test::CommandResult result = run_shrike({"compare", project.dir.string()});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::vector<std::string> lines = lines_of(result.output);
  ASSERT_EQ(lines.size(), 3u) << result.output;
  for (const char* column : {"run", "state", "best mAP50-95", "final mAP50-95", "train time", "epochs", "lr0"}) {
    EXPECT_NE(lines[0].find(column), std::string::npos) << column;
  }
  EXPECT_EQ(lines[0].find("momentum"), std::string::npos);  // the same in both runs
  EXPECT_TRUE(lines[1].starts_with("exp "));
  for (const char* cell : {"completed", "3/3", "0.5000", "0.3000", "0.2500", "2m05s", "0.01"}) {
    EXPECT_NE(lines[1].find(cell), std::string::npos) << cell << " in " << lines[1];
  }
  EXPECT_TRUE(lines[2].starts_with("exp2 "));
  for (const char* cell : {"running", "2/5", "0.1200", "40s", "0.02"}) {
    EXPECT_NE(lines[2].find(cell), std::string::npos) << cell << " in " << lines[2];
  }
}

TEST(Compare, CsvAndJson) {
  Project project;
  project.tear_live_stream();
  const Experiment first = Experiment::load("", {"lr0=0.01"});
  const Experiment second = Experiment::load("", {"lr0=0.02"});
  test::CommandResult csv = run_shrike({"compare", project.run("exp").string(), project.run("exp2").string(), "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  std::vector<std::string> lines = lines_of(csv.output);
  ASSERT_EQ(lines.size(), 3u) << csv.output;
  EXPECT_EQ(lines[0], "run,state,epochs_done,epochs_planned,best_epoch,best_mAP50,best_mAP50-95,final_mAP50-95,"
                      "time_s,dir,epochs,lr0");
  EXPECT_EQ(lines[1], "exp,completed,3,3,2,0.5,0.3,0.25,125.0," + project.run("exp").string() + ",3," + first.text("lr0"));
  EXPECT_EQ(lines[2], "exp2,running,2,5,2,0.2,0.12,0.12,40.0," + project.run("exp2").string() + ",5," + second.text("lr0"));

  test::CommandResult out = run_shrike({"compare", project.dir.string(), "--format", "json"});
  ASSERT_EQ(out.exit_code, 0) << out.output;
  json doc = json::parse(out.output);
  EXPECT_EQ(doc["differing_settings"], json({"epochs", "lr0"}));
  ASSERT_EQ(doc["runs"].size(), 2u);
  const json& exp = doc["runs"][0];
  EXPECT_EQ(exp["run"], "exp");
  EXPECT_EQ(exp["state"], "completed");
  EXPECT_EQ(exp["best_epoch"], 2);
  EXPECT_DOUBLE_EQ(exp["best_map50_95"].get<double>(), 0.30);
  EXPECT_DOUBLE_EQ(exp["final_map50_95"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(exp["time_s"].get<double>(), 125);
  EXPECT_EQ(exp["settings"]["lr0"], first.text("lr0"));
  EXPECT_EQ(doc["runs"][1]["settings"]["epochs"], "5");
  EXPECT_EQ(doc["runs"][1]["state"], "running");
}

TEST(Compare, PlotOverlaysBothRunsInValidSvg) {
  Project project;
  const fs::path svg = project.tmp / "compare.svg";
  test::CommandResult result = run_shrike({"compare", project.dir.string(), "--plot", svg.string()});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_TRUE(fs::exists(svg));
  const std::string text = read_text(svg);
  EXPECT_TRUE(text.starts_with("<?xml"));
  EXPECT_NE(text.find(">exp<"), std::string::npos);
  EXPECT_NE(text.find(">exp2<"), std::string::npos);
  if (!fs::exists("/usr/bin/python3")) return;
  const std::string check = "/usr/bin/python3 -c \"import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
                            "t = {e.text for e in r.iter() if e.tag.endswith('text')}; "
                            "assert r.tag.endswith('svg') and {'exp', 'exp2'} <= t, t\" '" + svg.string() + "'";
  EXPECT_EQ(std::system(check.c_str()), 0);
}

TEST(Compare, FolderThatIsNotARunIsNamed) {
  Project project;
  const fs::path empty = project.tmp / "empty";
  fs::create_directories(empty / "sub");
  for (const char* command : {"compare", "monitor"}) {
    test::CommandResult result = run_shrike({command, empty.string()});
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find(empty.string() + " is not a run folder"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("config.yaml or status.json"), std::string::npos) << result.output;
  }
  test::CommandResult missing = run_shrike({"compare", (project.tmp / "nope").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("does not exist"), std::string::npos) << missing.output;
}

// ---- shrike monitor -----------------------------------------------------------------------

TEST(Monitor, OnceSnapshotOfARunningRun) {
  Project project;
  project.tear_live_stream();
  test::CommandResult result = run_shrike({"monitor", project.run("exp2").string(), "--once", "--ascii"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const std::string& out = result.output;
  EXPECT_EQ(out.find("\x1b["), std::string::npos);  // not a terminal: no escape codes
  for (const char* text : {"running", "epoch 2/5", "50%", "training epoch 3 batch 5/10", "ETA 25s", "123.5 img/s",
                           "best   epoch 2: mAP50 0.2000  mAP50-95 0.1200", "gpu_util 87", "train loss", "mAP50-95 per epoch"}) {
    EXPECT_NE(out.find(text), std::string::npos) << text << "\n" << out;
  }
}

TEST(Monitor, ProjectShowsEveryRunAndExitsWhenAllAreFinal) {
  Project project;
  test::CommandResult once = run_shrike({"monitor", project.dir.string(), "--once"});
  ASSERT_EQ(once.exit_code, 0) << once.output;
  EXPECT_NE(once.output.find("completed"), std::string::npos);
  EXPECT_NE(once.output.find("running"), std::string::npos);
  EXPECT_NE(once.output.find("mAP50-95 0.3000"), std::string::npos) << once.output;
  // Without --once it follows until every run is final: exp is, so it exits at once.
  test::CommandResult follow = run_shrike({"monitor", project.run("exp").string(), "--interval", "0.1"});
  EXPECT_EQ(follow.exit_code, 0) << follow.output;
  EXPECT_NE(follow.output.find("completed"), std::string::npos);
  EXPECT_EQ(run_shrike({"monitor", "--help"}).exit_code, 0);
  EXPECT_NE(run_shrike({"compare", "--help"}).output.find("Examples"), std::string::npos);
}

}  // namespace
}  // namespace shrike::train
