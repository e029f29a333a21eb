// tests/unit/test_checkpoint.cpp: training checkpoints: an exact round trip of the
// model, EMA, optimizer state and progress; clear errors for another architecture,
// class count or optimizer; and a checkpoint that survives SIGKILL at any instant of
// being rewritten (a child process rewrites it in a loop and is killed at random times;
// the file must load every time, with a plausible epoch).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "pipeline/core/error.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/train/checkpoint.h"
#include "pipeline/train/debug_step.h"
#include "tests/unit/test_support.h"

namespace shrike::train {
namespace {

namespace fs = std::filesystem;

ResolvedOptimizer sgd() {
  OptimizerSettings settings;
  settings.optimizer = "SGD";
  return resolve_optimizer(settings);
}

// A tiny model after one real optimizer step, so every buffer holds something.
struct TrainedTiny {
  model::LoadedModel loaded = model::load_model(test::fixture_path("tiny.weights.h5").string());
  ModelEma ema{loaded.model->params()};
  Optimizer optimizer{loaded.model->params(), sgd()};
  TrainedTiny() {
    ParityBatch batch = read_parity_batch(test::fixture_path("tiny.batch.h5"));
    run_debug_step(*loaded.model, batch);
    optimizer.step(loaded.model->params());
    ema.update(loaded.model->params());
  }
  model::WeightsInfo info() const { return *loaded.weights; }
};

TEST(Checkpoint, RoundTripIsExact) {
  test::TempDir dir;
  TrainedTiny a;
  TrainingProgress progress{7, 1234, 0.625, 99, "epochs: 10\nlr0: 0.01\n", R"({"mAP50": 0.5})"};
  write_checkpoint(dir / "last.h5", a.loaded.model->params(), &a.ema, &a.optimizer, a.info(), progress);

  model::LoadedModel fresh = model::load_model(test::fixture_path("tiny.weights.h5").string());
  ModelEma ema(fresh.model->params());
  Optimizer optimizer(fresh.model->params(), sgd());
  CheckpointContents contents = read_checkpoint(dir / "last.h5", fresh.model->params(), &ema, &optimizer);
  EXPECT_TRUE(contents.has_ema);
  EXPECT_TRUE(contents.has_optimizer);
  EXPECT_EQ(contents.progress.epoch, 7);
  EXPECT_EQ(contents.progress.iteration, 1234);
  EXPECT_DOUBLE_EQ(contents.progress.best_fitness, 0.625);
  EXPECT_EQ(contents.progress.seed, 99u);
  EXPECT_EQ(contents.progress.config_yaml, progress.config_yaml);
  EXPECT_EQ(contents.progress.metrics_json, progress.metrics_json);
  auto same = [](auto x, auto y) { return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin()); };
  EXPECT_TRUE(same(fresh.model->params().float_state(), a.loaded.model->params().float_state()));
  EXPECT_TRUE(same(fresh.model->params().counters(), a.loaded.model->params().counters()));
  EXPECT_TRUE(same(ema.float_state(), a.ema.float_state()));
  EXPECT_EQ(ema.updates(), 1);
  EXPECT_TRUE(same(optimizer.state("momentum_buffer"), a.optimizer.state("momentum_buffer")));
  EXPECT_EQ(optimizer.step_count(), 1);

  // Validation, export and prediction load the EMA weights from a checkpoint.
  model::LoadedModel deployed = model::load_model((dir / "last.h5").string());
  EXPECT_TRUE(same(deployed.model->params().float_state(), a.ema.float_state()));
}

TEST(Checkpoint, MismatchesAreNamed) {
  test::TempDir dir;
  TrainedTiny a;
  write_checkpoint(dir / "last.h5", a.loaded.model->params(), &a.ema, &a.optimizer, a.info(), {});
  model::LoadedModel other = model::load_model("yolov8n.yaml", 4);
  try {
    read_checkpoint(dir / "last.h5", other.model->params(), nullptr, nullptr);
    FAIL() << "expected UserError";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("tensor model.0.conv.weight has shape [8, 3, 3, 3], the model expects "
                                             "[16, 3, 3, 3]"),
              std::string::npos)
        << error.what();
  }
  model::LoadedModel fresh = model::load_model(test::fixture_path("tiny.weights.h5").string());
  OptimizerSettings adamw;
  adamw.optimizer = "AdamW";
  Optimizer other_optimizer(fresh.model->params(), resolve_optimizer(adamw));
  try {
    read_checkpoint(dir / "last.h5", fresh.model->params(), nullptr, &other_optimizer);
    FAIL() << "expected UserError";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("trained with SGD, not AdamW"), std::string::npos) << error.what();
  }
}

TEST(Checkpoint, SurvivesSigkillAtAnyInstant) {
  test::TempDir dir;
  const fs::path path = dir / "last.h5";
  TrainedTiny a;
  write_checkpoint(path, a.loaded.model->params(), &a.ema, &a.optimizer, a.info(), {0, 0, 0, 0, "", "{}"});
  std::mt19937 rng(12345);
  int last_epoch = 0;
  for (int round = 0; round < 12; ++round) {
    // The child reports each finished write on a pipe; the parent waits for one (so
    // the file did get replaced, however loaded the machine is), then kills it at a
    // random instant of a later write.
    int report[2];
    ASSERT_EQ(pipe(report), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {  // rewrite the checkpoint forever with increasing epochs
      close(report[0]);
      for (int epoch = last_epoch + 1;; ++epoch) {
        TrainingProgress progress{epoch, epoch, 0, 0, "", "{}"};
        write_checkpoint(path, a.loaded.model->params(), &a.ema, &a.optimizer, a.info(), progress);
        const char done = 1;
        if (write(report[1], &done, 1) != 1) _exit(0);
      }
    }
    close(report[1]);
    char done = 0;
    ASSERT_EQ(read(report[0], &done, 1), 1) << "the child wrote no checkpoint";
    usleep(rng() % 40000);
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    close(report[0]);
    model::LoadedModel fresh = model::load_model(test::fixture_path("tiny.weights.h5").string());
    ModelEma ema(fresh.model->params());
    Optimizer optimizer(fresh.model->params(), sgd());
    CheckpointContents contents;
    ASSERT_NO_THROW(contents = read_checkpoint(path, fresh.model->params(), &ema, &optimizer)) << "round " << round;
    EXPECT_GE(contents.progress.epoch, last_epoch);
    last_epoch = contents.progress.epoch;
    EXPECT_TRUE(std::equal(ema.float_state().begin(), ema.float_state().end(), a.ema.float_state().begin()));
  }
  EXPECT_GT(last_epoch, 0);  // the child did replace the file between kills
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(entry.path(), ignored);
  }
}

}  // namespace
}  // namespace shrike::train
