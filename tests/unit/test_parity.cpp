// tests/unit/test_parity.cpp: shrike against the independent PyTorch implementation
// in tests/reference/ (fixtures made by make_fixtures.py, committed). One training-mode
// step of yolov8n and yolo11n (imgsz 128, batch 3 with a background image) through the
// `shrike debug step` code path: head outputs and loss items to 1e-4 relative L2,
// every parameter gradient to 1e-3 relative L2 per tensor (the fixture's measured
// float32-vs-float64 noise floor is below 5e-5), the BatchNorm running statistics after
// the step, and the CLI's output file.
#include <gtest/gtest.h>

#include <cmath>

#include "pipeline/data/hdf5_check.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/train/debug_step.h"
#include "tests/unit/test_support.h"

namespace shrike::train {
namespace {

namespace fs = std::filesystem;
using data::H5Handle;
using test::rel_l2;

double norm(const float* a, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * a[i];
  return std::sqrt(s);
}

bool flagged_zero(hid_t file, const std::string& dataset) {
  H5Handle d(H5Dopen2(file, dataset.c_str(), H5P_DEFAULT));
  if (H5Aexists(d, "zero_in_exact_arithmetic") <= 0) return false;
  return data::read_int_attribute(d, "zero_in_exact_arithmetic", dataset) != 0;
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, OneTrainingStepMatchesPyTorch) {
  const std::string stem = GetParam();
  model::LoadedModel loaded = model::load_model(test::fixture_path(stem + ".weights.h5").string());
  ParityBatch batch = read_parity_batch(test::fixture_path(stem + ".batch.h5"));
  StepLoss loss = run_debug_step(*loaded.model, batch);
  model::Model& model = *loaded.model;
  model::Graph& graph = model.graph(batch.shape);

  data::silence_hdf5_error_printing();
  H5Handle expected(H5Fopen(test::fixture_path(stem + ".expected.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  ASSERT_GE(expected.get(), 0);
  const char* levels[] = {"outputs/p3", "outputs/p4", "outputs/p5"};
  for (int l = 0; l < 3; ++l) {
    std::vector<double> ref = test::read_hdf5_doubles(expected, levels[l]);
    ASSERT_EQ(ref.size(), graph.shape(graph.outputs()[l]).numel());
    EXPECT_LT(rel_l2(graph.value(graph.outputs()[l]), ref), 1e-4) << levels[l];
  }
  std::vector<double> ref_loss = test::read_hdf5_doubles(expected, "loss");
  const float ours[3] = {static_cast<float>(loss.box), static_cast<float>(loss.cls), static_cast<float>(loss.dfl)};
  EXPECT_LT(rel_l2(ours, ref_loss), 1e-4);
  const double ref_total = test::read_hdf5_doubles(expected, "loss_total")[0];
  EXPECT_NEAR(loss.total, ref_total, 1e-4 * std::fabs(ref_total));

  model::ParamStore& params = model.params();
  int compared = 0;
  double worst = 0;
  std::string worst_name;
  for (int i = 0; i < static_cast<int>(params.entries().size()); ++i) {
    const model::TensorEntry& e = params.entry(i);
    if (model::is_trainable(e.role)) {
      const std::string dataset = "grads/" + e.name;
      ASSERT_GT(H5Lexists(expected, dataset.c_str(), H5P_DEFAULT), 0) << "fixture lacks " << dataset;
      std::vector<double> ref = test::read_hdf5_doubles(expected, dataset);
      ASSERT_EQ(ref.size(), e.numel) << e.name;
      if (flagged_zero(expected, dataset)) {  // zero in exact arithmetic: absolute bound
        EXPECT_LT(norm(params.grad(i), e.numel), 1e-5) << e.name;
      } else {
        const double error = rel_l2(params.grad(i), ref);
        EXPECT_LT(error, 1e-3) << e.name;
        if (error > worst) {
          worst = error;
          worst_name = e.name;
        }
      }
      ++compared;
    } else if (e.role == model::TensorRole::kRunningMean || e.role == model::TensorRole::kRunningVar) {
      std::vector<double> ref = test::read_hdf5_doubles(expected, "state_after/" + e.name);
      EXPECT_LT(rel_l2(params.value(i), ref), 1e-5) << e.name;
    } else if (e.role == model::TensorRole::kCounter) {
      EXPECT_EQ(*params.counter(i), static_cast<std::int64_t>(test::read_hdf5_doubles(expected, "state_after/" + e.name)[0]))
          << e.name;
    }
  }
  EXPECT_GT(compared, 150);
  std::printf("%s: %d gradients compared, worst relative L2 %.2e (%s)\n", stem.c_str(), compared, worst,
              worst_name.c_str());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity, ::testing::Values("yolov8n_s128_b3", "yolo11n_s128_b3"));

TEST(DebugStepCli, WritesTheParityContract) {
  test::TempDir dir;
  const std::string out = (dir / "step.h5").string();
  test::CommandResult result =
      test::run_shrike({"debug", "step", "--weights", test::fixture_path("yolov8n_s128_b3.weights.h5").string(), "--batch",
                        test::fixture_path("yolov8n_s128_b3.batch.h5").string(), "--out", out});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  H5Handle file(H5Fopen(out.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  ASSERT_GE(file.get(), 0);
  EXPECT_EQ(test::read_hdf5_doubles(file, "outputs/p3").size(), 3u * 68 * 16 * 16);
  EXPECT_EQ(test::read_hdf5_doubles(file, "loss").size(), 3u);
  EXPECT_EQ(test::read_hdf5_doubles(file, "grads/model.0.conv.weight").size(), 16u * 3 * 3 * 3);
  test::CommandResult missing = test::run_shrike({"debug", "step", "--weights", "nope.h5", "--batch", "b.h5", "--out", out});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("nope.h5 does not exist"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace shrike::train
