// tests/unit/test_run_folder.cpp
//
// The run folder's file contracts (DESIGN.md § File contracts), checked against
// independent sources: usage.json against DESIGN.md's own example, results.csv cells
// against Python's "%.6g" (values printed by /usr/bin/python3 and pasted here), the
// CRC-32C against the published check value and hpc-notes' masked test vector, and the
// SVG with Python's XML parser when /usr/bin/python3 is there.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pipeline/core/error.h"
#include "pipeline/train/results_plot.h"
#include "pipeline/train/run_folder.h"
#include "pipeline/train/tensorboard_writer.h"
#include "tests/unit/test_support.h"

namespace shrike::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::read_text;
using test::TempDir;
using test::write_text;

WallClock::time_point utc(const char* text) { return parse_utc_iso8601(text, "test"); }

void append_raw(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

ResultsRow sample_row(int epoch, bool validated) {
  ResultsRow row;
  row.epoch = epoch;
  row.time = 12.345678;
  row.train_box_loss = 1.234564;
  row.train_cls_loss = 6.6e-05;
  row.train_dfl_loss = 2.0 / 3;
  if (validated) {
    row.precision = 0.5;
    row.recall = 0.000123456;
    row.map50 = 0.01;
    row.map50_95 = 0;
    row.val_box_loss = 3;
    row.val_cls_loss = 1234567;
    row.val_dfl_loss = 1e-5;
  }
  row.lr_pg0 = 0.000123456;
  row.lr_pg1 = 2.0 / 3;
  row.lr_pg2 = 0.1;
  return row;
}

// ---- folder naming ---------------------------------------------------------------------

TEST(RunFolder, NamesIncrementLikeTheReference) {
  TempDir tmp;
  std::string project = (tmp.path() / "proj").string();
  EXPECT_EQ(RunFolder::create(project, "exp", false).name(), "exp");
  EXPECT_EQ(RunFolder::create(project, "exp", false).name(), "exp2");
  RunFolder third = RunFolder::create(project, "exp", false);
  EXPECT_EQ(third.name(), "exp3");
  EXPECT_EQ(third.project_name(), "proj");
  EXPECT_TRUE(fs::is_directory(third.weights_dir()));
  EXPECT_EQ(RunFolder::create(project, "exp", true).dir(), tmp.path() / "proj" / "exp");
  EXPECT_FALSE(fs::exists(tmp.path() / "proj" / "exp4"));
  EXPECT_THROW(RunFolder::create(project, "a/b", false), UserError);
}

TEST(RunFolder, ProjectIsANameUnderRunsOrAPath) {
  fs::path cwd = fs::current_path();
  EXPECT_EQ(resolve_project_dir("coco"), cwd / "runs" / "coco");
  EXPECT_EQ(resolve_project_dir("./mine"), cwd / "mine");
  EXPECT_EQ(resolve_project_dir("/data/runs/coco/"), fs::path("/data/runs/coco"));
  EXPECT_EQ(resolve_project_dir(""), cwd / "runs" / "default");
}

// ---- status.json -------------------------------------------------------------------------

TEST(RunFolder, StatusStatesAreValidated) {
  for (std::string name : {"pending", "running", "paused", "stopped", "preempted", "completed", "failed", "cancelled"}) {
    EXPECT_EQ(run_state_name(parse_run_state(name)), name);
  }
  EXPECT_THROW(parse_run_state("finished"), UserError);
  EXPECT_THROW(parse_run_state("Running"), UserError);

  TempDir tmp;
  RunFolder folder = RunFolder::create(tmp.path().string(), "exp", false);
  folder.set_status(RunState::kPaused, "credits", 7, 4321L, std::string("4242"), utc("2026-11-01T10:00:00Z"));
  json status = json::parse(read_text(folder.dir() / "status.json"));
  EXPECT_EQ(status, json::parse(R"({"state": "paused", "reason": "credits", "time": "2026-11-01T10:00:00Z",
                                    "epoch": 7, "pid": 4321, "job_id": "4242"})"));
  RunStatus read = read_run_status(folder.dir());
  EXPECT_EQ(read.state, RunState::kPaused);
  EXPECT_EQ(read.epoch, 7);

  folder.set_status(RunState::kRunning, "");
  EXPECT_FALSE(json::parse(read_text(folder.dir() / "status.json")).contains("epoch"));
  write_text(folder.dir() / "status.json", R"({"state": "bogus", "reason": "", "time": "2026-11-01T10:00:00Z"})");
  EXPECT_THROW(read_run_status(folder.dir()), UserError);
}

// ---- usage.json --------------------------------------------------------------------------

UsageIdentity alice_identity() {
  UsageIdentity identity;
  identity.account = "alice";
  identity.user = "alice";
  identity.project = "coco";
  identity.run = "exp3";
  identity.job_id = "4242";
  identity.instance = "rtx4090";
  identity.gpus = 4;
  return identity;
}

TEST(RunFolder, UsageJsonHasDesignShapeAndSegmentsAppendOnResume) {
  TempDir tmp;
  fs::path dir;
  {
    RunFolder folder = RunFolder::create(tmp.path().string(), "exp3", false);
    dir = folder.dir();
    folder.begin_segment(alice_identity(), utc("2026-11-01T10:00:00Z"));
    folder.update_segment_end(utc("2026-11-01T10:45:00Z"));
    folder.update_segment_end(utc("2026-11-01T11:30:00Z"));
    json first = json::parse(read_text(dir / "usage.json"));
    EXPECT_EQ(first["segments"], json::parse(R"([{"start": "2026-11-01T10:00:00Z", "end": "2026-11-01T11:30:00Z"}])"));
  }
  RunFolder resumed = RunFolder::open_existing(dir);
  ASSERT_EQ(resumed.usage().segments.size(), 1u);
  UsageIdentity requeued = alice_identity();
  requeued.gpus = 8;
  requeued.job_id = "4250";
  resumed.begin_segment(requeued, utc("2026-11-01T12:00:00Z"));
  resumed.update_segment_end(utc("2026-11-01T12:10:00Z"));

  // DESIGN.md § usage.json, verbatim.
  json design = json::parse(R"(
{"version": 1, "cluster": "local", "account": "alice", "user": "alice",
 "project": "coco", "run": "exp3", "job_id": "4242", "instance": "rtx4090",
 "gpus": 4,
 "segments": [{"start": "2026-11-01T10:00:00Z", "end": "2026-11-01T11:30:00Z"},
              {"start": "2026-11-01T12:00:00Z", "end": "2026-11-01T12:10:00Z",
               "gpus": 8, "job_id": "4250"}]})");
  std::string text = read_text(dir / "usage.json");
  json usage = json::parse(text);
  EXPECT_EQ(usage, design);
  for (const auto& [key, value] : design.items()) EXPECT_EQ(usage.at(key), value) << key;
  EXPECT_LT(text.find("\"version\""), text.find("\"segments\""));  // DESIGN.md's key order
  EXPECT_EQ(read_usage_json(dir / "usage.json").segments.size(), 2u);
}

TEST(RunFolder, UsageJsonDefaultsOptionalKeys) {
  TempDir tmp;
  write_text(tmp / "usage.json",
             R"({"instance": "a100", "gpus": 2, "segments": [{"start": "2026-11-01T10:00:00.5Z", "end": "2026-11-01T10:00:09Z"}]})");
  UsageRecord usage = read_usage_json(tmp / "usage.json");
  EXPECT_EQ(usage.identity.cluster, "local");
  EXPECT_FALSE(usage.identity.user.empty());
  EXPECT_EQ(usage.segments[0].end - usage.segments[0].start, std::chrono::seconds(9));
  write_text(tmp / "usage.json", R"({"gpus": 2, "segments": []})");
  EXPECT_THROW(read_usage_json(tmp / "usage.json"), UserError);
  EXPECT_THROW(parse_utc_iso8601("2026-11-01 10:00:00", "x"), UserError);
}

// ---- results.csv -------------------------------------------------------------------------

TEST(RunFolder, ResultsCsvHeaderAndCellsMatchTheReference) {
  TempDir tmp;
  RunFolder folder = RunFolder::create(tmp.path().string(), "exp", false);
  folder.append_results_row(sample_row(1, true));
  folder.append_results_row(sample_row(2, false));
  std::string text = read_text(folder.dir() / "results.csv");
  // Expected cells: Python's "%.6g" % v (losses: "%.6g" % round(v, 5)), as save_metrics writes them.
  EXPECT_EQ(text,
            "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
            "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2\n"
            "1,12.3457,1.23456,7e-05,0.66667,0.5,0.000123456,0.01,0,3,1.23457e+06,1e-05,0.000123456,0.666667,0.1\n"
            "2,12.3457,1.23456,7e-05,0.66667,,,,,,,,0.000123456,0.666667,0.1\n");

  RunFolder resumed = RunFolder::open_existing(folder.dir());
  ASSERT_EQ(resumed.results().size(), 2u);
  EXPECT_EQ(resumed.results()[0].map50, 0.01);
  EXPECT_FALSE(resumed.results()[1].precision.has_value());
  resumed.keep_results_through(1);
  resumed.append_results_row(sample_row(2, true));
  std::vector<ResultsRow> rows = read_results_csv(folder.dir() / "results.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[1].precision.has_value());
}

TEST(RunFolder, ResultsCsvReaderAcceptsPaddedCellsAndRejectsOtherHeaders) {
  TempDir tmp;
  std::string header = std::string(render_results_csv({}));
  write_text(tmp / "results.csv", header + "  1,  2.5, 1,1,1, , , , , , , , 0.01,0.01,0.01\n");
  std::vector<ResultsRow> rows = read_results_csv(tmp / "results.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].time, 2.5);
  write_text(tmp / "results.csv", "epoch,train/box_loss\n1,2\n");
  EXPECT_THROW(read_results_csv(tmp / "results.csv"), UserError);
}

// ---- metrics.jsonl and train.log ---------------------------------------------------------

TEST(RunFolder, MetricsJsonlSkipsATornLastLineAndCutsItOnReopen) {
  TempDir tmp;
  fs::path dir;
  {
    RunFolder folder = RunFolder::create(tmp.path().string(), "exp", false);
    dir = folder.dir();
    folder.log_event("start", {{"epochs", 3}});
    folder.append_metrics("train", {{"epoch", 1}, {"iteration", 10}, {"box_loss", 1.5}});
    folder.flush_durably();
    EXPECT_THROW(folder.append_metrics("bogus", json::object()), InternalError);
    EXPECT_THROW(folder.log_event("explode"), InternalError);
  }
  append_raw(dir / "metrics.jsonl", R"({"type":"epoch","epo)");
  std::vector<json> records = read_metrics_jsonl(dir / "metrics.jsonl");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["type"], "event");
  EXPECT_EQ(records[0]["event"], "start");
  EXPECT_EQ(records[0]["epochs"], 3);
  EXPECT_TRUE(records[0]["wall_time"].is_number());
  EXPECT_EQ(records[1]["iteration"], 10);

  RunFolder resumed = RunFolder::open_existing(dir);
  resumed.log_event("resume");
  records = read_metrics_jsonl(dir / "metrics.jsonl");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2]["event"], "resume");

  append_raw(dir / "metrics.jsonl", "not json\n{\"type\":\"event\"}\n");
  EXPECT_THROW(read_metrics_jsonl(dir / "metrics.jsonl"), UserError);
}

TEST(RunFolder, TrainLogAppendsLinesAndClosesATornOne) {
  TempDir tmp;
  fs::path dir;
  {
    RunFolder folder = RunFolder::create(tmp.path().string(), "exp", false);
    dir = folder.dir();
    folder.append_log_line("epoch 1/3");
    folder.append_log_line("epoch 2/3\n");
  }
  append_raw(dir / "train.log", "half a li");
  RunFolder::open_existing(dir).append_log_line("resumed");
  EXPECT_EQ(read_text(dir / "train.log"), "epoch 1/3\nepoch 2/3\nhalf a li\nresumed\n");
}

TEST(RunFolder, ProvenanceGoesToRunJsonAndKeepsEarlierSessions) {
  TempDir tmp;
  RunFolder folder = RunFolder::create(tmp.path().string(), "exp", false);
  folder.write_config("epochs: 3\n");
  EXPECT_EQ(read_text(folder.dir() / "config.yaml"), "epochs: 3\n");
  RunProvenance provenance{"", "", "abc123", "node1", {"cpu"}, 1};
  folder.write_provenance(provenance);
  provenance.host = "node2";
  provenance.world_size = 4;
  folder.write_provenance(provenance);
  json run = json::parse(read_text(folder.dir() / "run.json"));
  EXPECT_EQ(run["host"], "node2");
  EXPECT_EQ(run["world_size"], 4);
  EXPECT_EQ(run["shard_manifest_sha256"], "abc123");
  EXPECT_FALSE(run["shrike_version"].get<std::string>().empty());
  EXPECT_TRUE(run.contains("git_commit"));
  ASSERT_EQ(run["previous"].size(), 1u);
  EXPECT_EQ(run["previous"][0]["host"], "node1");
}

// ---- TensorBoard -------------------------------------------------------------------------

TEST(TensorBoard, Crc32cMatchesPublishedVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xe3069283u);  // the CRC-32C check value (RFC 3720)
  const std::string vector = std::string("\x1a\x11", 2) + "CRC test, one two";
  ASSERT_EQ(vector.size(), 19u);
  EXPECT_EQ(masked_crc32c(vector.data(), vector.size()), 0x5794d08au);  // hpc-notes.md
}

TEST(TensorBoard, EventFileReadsBack) {
  TempDir tmp;
  auto now = utc("2026-11-01T10:00:00Z");
  fs::path path;
  {
    TensorBoardWriter writer = TensorBoardWriter::open(tmp.path(), now);
    path = writer.path();
    writer.add_scalar("train/box_loss", 1.25f, 1, now);
    writer.add_scalar("metrics/mAP50(B)", 0.5f, 1, now);
    writer.add_scalar("train/box_loss", 1.0f, 300000000000LL, now);
    writer.flush();
  }
  EXPECT_TRUE(std::regex_match(path.filename().string(), std::regex(R"(events\.out\.tfevents\.\d{10}\..+)")))
      << path;
  EXPECT_NE(path.filename().string().find(".1793527200."), std::string::npos);
  TensorBoardWriter second = TensorBoardWriter::open(tmp.path(), now);  // a resume in the same second
  EXPECT_NE(second.path(), path);

  TfEventsFile file = read_tfevents(path);
  EXPECT_EQ(file.records.size(), 4u);
  EXPECT_EQ(file.file_version, "brain.Event:2");
  ASSERT_EQ(file.scalars.size(), 3u);
  EXPECT_EQ(file.scalars[1].tag, "metrics/mAP50(B)");
  EXPECT_EQ(file.scalars[1].value, 0.5f);
  EXPECT_EQ(file.scalars[2].step, 300000000000LL);
  EXPECT_DOUBLE_EQ(file.scalars[0].wall_time, 1793527200.0);

  // The first record's bytes, encoded by hand: field 1 fixed64 (key 0x09), field 3 bytes (key 0x1a).
  std::string expected = std::string("\x09", 1);
  double wall_time = 1793527200.0;
  expected.append(reinterpret_cast<const char*>(&wall_time), 8);
  expected += std::string("\x1a\x0d", 2) + "brain.Event:2";
  EXPECT_EQ(file.records[0], expected);
  // A scalar, from the protobuf wire format by hand: Event{1: 0.0, 2: 2, 5: Summary{1: Value{1: "a", 2: 1.0f}}}.
  EXPECT_EQ(encode_scalar_event("a", 1.0f, 2, 0.0),
            std::string("\x09\0\0\0\0\0\0\0\0" "\x10\x02" "\x2a\x0a" "\x0a\x08" "\x0a\x01" "a" "\x15\0\0\x80\x3f", 23));

  append_raw(path, frame_tfrecord(encode_scalar_event("x", 1, 1, 0)).substr(0, 20));  // torn tail
  EXPECT_EQ(read_tfevents(path).scalars.size(), 3u);
  std::string bytes = read_text(path);
  bytes[30] ^= 0x01;
  write_text(path, bytes);
  EXPECT_THROW(read_tfevents(path), UserError);
}

bool system_python_has(const char* module) {
  std::string command = std::string("/usr/bin/python3 -c 'import ") + module + "' >/dev/null 2>&1";
  return fs::exists("/usr/bin/python3") && std::system(command.c_str()) == 0;
}

TEST(TensorBoard, TensorBoardItselfReadsOurFile) {
  if (!system_python_has("tensorboard")) GTEST_SKIP() << "tensorboard is not installed for /usr/bin/python3";
  TempDir tmp;
  {
    TensorBoardWriter writer = TensorBoardWriter::open(tmp.path());
    writer.add_scalar("train/box_loss", 1.5f, 3);
  }
  std::string script =
      "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator as E\n"
      "a = E('" + tmp.path().string() + "'); a.Reload()\n"
      "s = a.Scalars('train/box_loss'); assert s[0].step == 3 and s[0].value == 1.5, s\n";
  write_text(tmp / "check.py", script);
  EXPECT_EQ(std::system(("/usr/bin/python3 " + (tmp / "check.py").string()).c_str()), 0);
}

// ---- results.svg -------------------------------------------------------------------------

// Every tag closed in order (no attribute contains '<' or '>': escape_xml sees to it).
bool tags_balance(const std::string& svg) {
  std::vector<std::string> open;
  for (std::size_t at = svg.find('<'); at != std::string::npos; at = svg.find('<', at + 1)) {
    std::size_t end = svg.find('>', at);
    if (end == std::string::npos) return false;
    std::string tag = svg.substr(at + 1, end - at - 1);
    if (tag.starts_with("?") || tag.ends_with("/")) continue;
    std::string name = tag.substr(tag.starts_with("/") ? 1 : 0, tag.find_first_of(" /", 1) - (tag.starts_with("/") ? 1 : 0));
    if (!tag.starts_with("/")) {
      open.push_back(name);
    } else if (open.empty() || open.back() != name) {
      return false;
    } else {
      open.pop_back();
    }
  }
  return open.empty();
}

void expect_well_formed_svg(const fs::path& path) {
  std::string svg = read_text(path);
  EXPECT_TRUE(svg.starts_with("<?xml"));
  EXPECT_TRUE(tags_balance(svg)) << path;
  if (!fs::exists("/usr/bin/python3")) return;
  std::string command = "/usr/bin/python3 -c \"import sys, xml.etree.ElementTree as E; "
                        "r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith('svg')\" '" + path.string() + "'";
  EXPECT_EQ(std::system(command.c_str()), 0) << path;
}

TEST(ResultsPlot, SvgIsWellFormedForSeveralEpochsOneEpochAndNoValidation) {
  TempDir tmp;
  write_results_svg(tmp / "many.svg", std::vector<ResultsRow>{sample_row(1, true), sample_row(2, false),
                                                              sample_row(3, true)});
  write_results_svg(tmp / "one.svg", std::vector<ResultsRow>{sample_row(1, true)});
  write_results_svg(tmp / "noval.svg", std::vector<ResultsRow>{sample_row(1, false), sample_row(2, false)});
  write_results_svg(tmp / "empty.svg", std::vector<ResultsRow>{});
  for (const char* name : {"many.svg", "one.svg", "noval.svg", "empty.svg"}) expect_well_formed_svg(tmp / name);

  std::string many = read_text(tmp / "many.svg");
  for (std::string_view column : kResultsColumns) {
    if (column != "epoch" && column != "time") {
      EXPECT_NE(many.find(std::string(column)), std::string::npos) << column;
    }
  }
  EXPECT_NE(read_text(tmp / "noval.svg").find("no data"), std::string::npos);
  EXPECT_NE(read_text(tmp / "one.svg").find("<circle"), std::string::npos);
}

TEST(ResultsPlot, SeveralRunsShareChartsWithALegend) {
  TempDir tmp;
  std::vector<LabelledResults> runs = {{"exp & <1>", {sample_row(1, true), sample_row(2, true)}},
                                       {"exp2", {sample_row(1, true)}}};
  std::vector<PlotChart> charts = results_charts(runs);
  ASSERT_EQ(charts.size(), 13u);
  EXPECT_EQ(charts[0].title, "train/box_loss");
  EXPECT_EQ(charts[0].series.size(), 2u);
  write_results_svg(tmp / "compare.svg", runs);
  std::string svg = read_text(tmp / "compare.svg");
  EXPECT_NE(svg.find("exp &amp; &lt;1&gt;"), std::string::npos);
  EXPECT_NE(svg.find("#ff7f0e"), std::string::npos);  // the second run's colour
  expect_well_formed_svg(tmp / "compare.svg");
}

}  // namespace
}  // namespace shrike::train
