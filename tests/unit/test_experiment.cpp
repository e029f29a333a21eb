// tests/unit/test_experiment.cpp: experiment keys (defaults, YAML, key=value, errors
// with suggestions, the resolved YAML) and the run budget (time re-planning, credits).
#include <gtest/gtest.h>

#include "pipeline/core/error.h"
#include "pipeline/train/experiment.h"
#include "pipeline/train/run_budget.h"
#include "tests/unit/test_support.h"

namespace shrike::train {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& error) {
    return error.what();
  }
  return "";
}

TEST(Experiment, DefaultsAreTheReferences) {
  Experiment e;
  EXPECT_EQ(e.integer("epochs"), 100);
  EXPECT_EQ(e.integer("batch"), 16);
  EXPECT_EQ(e.integer("imgsz"), 640);
  EXPECT_DOUBLE_EQ(e.number("lr0"), 0.01);
  EXPECT_DOUBLE_EQ(e.number("momentum"), 0.937);
  EXPECT_DOUBLE_EQ(e.number("weight_decay"), 5e-4);
  EXPECT_DOUBLE_EQ(e.number("warmup_bias_lr"), 0.1);
  EXPECT_DOUBLE_EQ(e.number("fliplr"), 0.5);
  EXPECT_EQ(e.integer("close_mosaic"), 10);
  EXPECT_EQ(e.text("optimizer"), "auto");
  EXPECT_TRUE(e.flag("val"));
  EXPECT_FALSE(e.flag("cos_lr"));
}

TEST(Experiment, FileThenCommandLineOverrides) {
  test::TempDir dir;
  test::write_text(dir / "exp.yaml", "model: yolo11n.yaml\nepochs: 30\nlr0: 0.02\ncos_lr: True\n");
  Experiment e = Experiment::load(dir / "exp.yaml", {"epochs=3", "data=/d/shards"});
  EXPECT_EQ(e.text("model"), "yolo11n.yaml");
  EXPECT_EQ(e.integer("epochs"), 3);
  EXPECT_DOUBLE_EQ(e.number("lr0"), 0.02);
  EXPECT_TRUE(e.flag("cos_lr"));
  EXPECT_EQ(e.text("data"), "/d/shards");
  EXPECT_TRUE(e.is_set_by_user("epochs"));
  EXPECT_FALSE(e.is_set_by_user("batch"));
  Experiment again = Experiment::from_yaml_text(e.to_yaml(), "config.yaml");
  EXPECT_TRUE(Experiment::differing_keys(e, again).empty());
  EXPECT_EQ(Experiment::differing_keys(e, Experiment()),
            (std::vector<std::string>{"model", "data", "epochs", "cos_lr", "lr0"}));
}

TEST(Experiment, UnknownKeysSuggestTheClosest) {
  std::string error = error_of([] { Experiment::load("", {"epoch=3"}); });
  EXPECT_NE(error.find("command line: unknown key 'epoch'; did you mean 'epochs'?"), std::string::npos) << error;
  test::TempDir dir;
  test::write_text(dir / "e.yaml", "epochs: 3\nlr_0: 0.1\n");
  error = error_of([&] { Experiment::load(dir / "e.yaml", {}); });
  EXPECT_NE(error.find("e.yaml line 2: unknown key 'lr_0'; did you mean 'lr0'?"), std::string::npos) << error;
  EXPECT_EQ(error_of([] { Experiment::load("", {"zzzzzzzz=1"}); }).find("did you mean"), std::string::npos);
}

TEST(Experiment, BadValuesNameTheKey) {
  EXPECT_NE(error_of([] { Experiment::load("", {"epochs=abc"}); }).find("epochs=abc is not an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { Experiment::load("", {"batch=2.5"}); }).find("batch=2.5 is not an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { Experiment::load("", {"fliplr=2"}); }).find("fliplr=2 is out of range"), std::string::npos);
  EXPECT_NE(error_of([] { Experiment::load("", {"val=maybe"}); }).find("val=maybe is not true or false"),
            std::string::npos);
  EXPECT_NE(error_of([] { Experiment::load("", {"epochs"}); }).find("is not a key=value setting"), std::string::npos);
}

TEST(RunBudget, TimeReplansEpochsAndStops) {
  RunBudget budget({0.5, 0, 0, 1, 0});  // 30 minutes
  EXPECT_EQ(budget.replan_epochs(100, 1, 120.0), 15);
  EXPECT_EQ(budget.replan_epochs(100, 20, 120.0), 20);  // never below what already ran
  EXPECT_FALSE(budget.time_is_up(1799));
  EXPECT_TRUE(budget.time_is_up(1801));
  RunBudget none({0, 0, 0, 1, 0});
  EXPECT_EQ(none.replan_epochs(100, 1, 120.0), 100);
  EXPECT_FALSE(none.time_is_up(1e9));
}

TEST(RunBudget, PausesBeforeTheCreditLimit) {
  // 10 credits at 3.99 credits per GPU-hour on 4 GPUs: 10 / 15.96 h = 2255.6 s.
  RunBudget budget({0, 10.0, 3.99, 4, 0});
  EXPECT_NEAR(budget.credits_spent(3600), 15.96, 1e-9);
  EXPECT_FALSE(budget.should_pause_for_credits(2000, 60));
  EXPECT_TRUE(budget.should_pause_for_credits(2200, 60));
  RunBudget resumed({0, 10.0, 3.99, 4, 9.0});  // 9 credits spent by earlier segments
  EXPECT_TRUE(resumed.should_pause_for_credits(200, 60));
  EXPECT_FALSE(RunBudget({0, 0, 3.99, 4, 0}).should_pause_for_credits(1e9, 60));
}

}  // namespace
}  // namespace shrike::train
