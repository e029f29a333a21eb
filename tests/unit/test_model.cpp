// tests/unit/test_model.cpp: model definitions and the parameter store: the exact
// reference parameter counts of all ten models, Ultralytics state-dict names, errors
// for bad YAMLs, weights files round trip and mismatch errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "pipeline/core/error.h"
#include "pipeline/model/model.h"
#include "pipeline/model/model_spec.h"
#include "pipeline/model/model_info.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/model/weights_file.h"
#include "tests/unit/test_support.h"

namespace shrike::model {
namespace {

struct Expected {
  const char* name;
  std::size_t parameters;
  double gflops;  // the spec's figure at 640 (0 = not given)
};

class ParameterCounts : public ::testing::TestWithParam<Expected> {};

TEST_P(ParameterCounts, EqualTheReferenceExactly) {
  const Expected expected = GetParam();
  Model model(load_model_spec(std::string(expected.name) + ".yaml"));
  EXPECT_EQ(model.params().parameter_count(), expected.parameters) << expected.name;
  if (expected.gflops > 0) {
    EXPECT_NEAR(reference_gflops(model, 640), expected.gflops, 0.11) << expected.name;
  }
}

INSTANTIATE_TEST_SUITE_P(TenModels, ParameterCounts,
                         ::testing::Values(Expected{"yolov8n", 3157200, 8.7}, Expected{"yolov8s", 11166560, 28.6},
                                           Expected{"yolov8m", 25902640, 0}, Expected{"yolov8l", 43691520, 0},
                                           Expected{"yolov8x", 68229648, 0}, Expected{"yolo11n", 2624080, 6.5},
                                           Expected{"yolo11s", 9458752, 21.5}, Expected{"yolo11m", 20114688, 0},
                                           Expected{"yolo11l", 25372160, 0}, Expected{"yolo11x", 56966176, 0}),
                         [](const auto& info) { return std::string(info.param.name); });

// Inference graphs (validation, prediction) place activations by lifetime and have no
// gradients: the same eval outputs bit for bit in a fraction of the memory, and a
// training pass or backward on them is refused.
TEST(InferenceGraph, SameOutputsInLessMemory) {
  for (const char* yaml : {"yolov8n.yaml", "yolo11n.yaml"}) {
    Model model(load_model_spec(yaml, 3));
    model.initialize(7);
    const Shape4 shape{2, 3, 96, 128};
    std::vector<float> image(shape.numel());
    for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<float>((i * 2654435761u) % 1000) / 1000.0f;
    Graph& host = model.graph(shape);
    host.forward(image.data(), Mode::kEval);
    std::vector<std::vector<float>> expected;
    for (int out : host.outputs()) expected.emplace_back(host.value(out), host.value(out) + host.shape(out).numel());
    const std::size_t host_bytes = host.activation_bytes();
    Graph& inference = model.graph(shape, GraphStorage::kInference);
    ASSERT_NE(&inference, &host);
    inference.forward(image.data(), Mode::kEval);
    for (std::size_t l = 0; l < expected.size(); ++l) {
      const int out = inference.outputs()[l];
      EXPECT_EQ(0, std::memcmp(inference.value(out), expected[l].data(), expected[l].size() * sizeof(float)))
          << yaml << " output " << l;
    }
    EXPECT_LT(inference.activation_bytes() * 4, host_bytes) << yaml;
    EXPECT_THROW(inference.forward(image.data(), Mode::kTrain), std::exception);
    EXPECT_THROW(inference.backward(), std::exception);
  }
}

TEST(ModelNames, FollowTheUltralyticsStateDict) {
  Model v8(load_model_spec("yolov8n.yaml", 4));
  for (const char* name : {"model.0.conv.weight", "model.0.bn.running_var", "model.0.bn.num_batches_tracked",
                           "model.2.m.0.cv1.conv.weight", "model.9.cv2.bn.bias", "model.22.cv2.0.2.bias",
                           "model.22.cv3.2.1.conv.weight", "model.22.dfl.conv.weight"}) {
    EXPECT_GE(v8.params().find(name), 0) << name;
  }
  Model v11(load_model_spec("yolo11n.yaml", 4));
  for (const char* name : {"model.10.m.0.attn.qkv.conv.weight", "model.10.m.0.attn.pe.bn.weight",
                           "model.10.m.0.ffn.1.conv.weight", "model.2.m.0.cv1.conv.weight",
                           "model.23.cv3.0.0.0.conv.weight", "model.23.cv3.0.1.1.bn.bias", "model.23.dfl.conv.weight"}) {
    EXPECT_GE(v11.params().find(name), 0) << name;
  }
  const TensorEntry& dfl = v8.params().entry(v8.params().find("model.22.dfl.conv.weight"));
  EXPECT_EQ(dfl.role, TensorRole::kFrozen);
  EXPECT_EQ(dfl.shape, (std::vector<std::int64_t>{1, 16, 1, 1}));
  const TensorEntry& head = v8.params().entry(v8.params().find("model.22.cv3.0.2.weight"));
  EXPECT_EQ(head.shape, (std::vector<std::int64_t>{4, 64, 1, 1}));  // nc = 4, c3 = max(64, min(4, 100))
}

TEST(ModelInit, DetectBiasesFollowTheReference) {
  Model model(load_model_spec("yolov8n.yaml", 4));
  model.initialize(0);
  ParamStore& p = model.params();
  EXPECT_EQ(p.value(p.find("model.22.cv2.1.2.bias"))[5], 1.0f);
  EXPECT_NEAR(p.value(p.find("model.22.cv3.0.2.bias"))[0], std::log(5.0 / 4 / (80.0 * 80.0)), 1e-6);
  EXPECT_NEAR(p.value(p.find("model.22.cv3.2.2.bias"))[3], std::log(5.0 / 4 / (20.0 * 20.0)), 1e-6);
  EXPECT_EQ(p.value(p.find("model.22.dfl.conv.weight"))[15], 15.0f);
  EXPECT_EQ(p.value(p.find("model.3.bn.running_var"))[0], 1.0f);
}

std::string error_for_yaml(const std::string& yaml) {
  try {
    parse_model_spec(yaml, "custom", "custom.yaml");
  } catch (const UserError& error) {
    return error.what();
  }
  return "";
}

TEST(ModelYaml, UnknownModuleAndBadFromAreNamed) {
  const std::string head = "nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n";
  std::string unknown = error_for_yaml(head + "  - [-1, 1, C2fx, [32]]\nhead:\n  - [[1], 1, Detect, [nc]]\n");
  EXPECT_NE(unknown.find("custom.yaml line 4 (layer 1, C2fx): unknown module 'C2fx'"), std::string::npos) << unknown;
  std::string from = error_for_yaml(head + "  - [5, 1, Conv, [32, 3, 2]]\nhead:\n  - [[1], 1, Detect, [nc]]\n");
  EXPECT_NE(from.find("line 4 (layer 1, Conv): 'from' index 5 refers to layer 5"), std::string::npos) << from;
  EXPECT_NE(error_for_yaml("nc: 2\nbackbone: []\n").find("needs 'backbone' and 'head'"), std::string::npos);
  EXPECT_NE(error_for_yaml(head + "head:\n  - [-1, 1, Conv, [8]]\n").find("last layer must be Detect"),
            std::string::npos);
}

TEST(WeightsFile, RoundTripAndMismatchErrors) {
  test::TempDir dir;
  LoadedModel original = load_model("yolov8n.yaml", 4, std::nullopt, 7);
  *original.model->params().counter(original.model->params().find("model.0.bn.num_batches_tracked")) = 42;
  WeightsInfo info{4, {"a", "b", "c", "d"}, "yolov8n.yaml", 320, {8, 16, 32}};
  write_weights(dir / "w.h5", original.model->params(), info);
  LoadedModel loaded = load_model((dir / "w.h5").string());
  ASSERT_TRUE(loaded.weights.has_value());
  EXPECT_EQ(loaded.weights->nc, 4);
  EXPECT_EQ(loaded.weights->names[3], "d");
  EXPECT_EQ(loaded.weights->imgsz, 320);
  auto a = original.model->params().float_state(), b = loaded.model->params().float_state();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
  EXPECT_EQ(*loaded.model->params().counter(loaded.model->params().find("model.0.bn.num_batches_tracked")), 42);

  Model other_classes(load_model_spec("yolov8n.yaml", 80));
  try {
    load_state_dict(other_classes.params(), read_state_dict(dir / "w.h5"), "w.h5");
    FAIL() << "expected a mismatch";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("model.22.cv3.0.0.conv.weight has shape [64, 64, 3, 3]"), std::string::npos)
        << error.what();
  }
  Model other_arch(load_model_spec("yolo11n.yaml", 4));
  EXPECT_THROW(load_state_dict(other_arch.params(), read_state_dict(dir / "w.h5"), "w.h5"), UserError);
  EXPECT_THROW(load_model((dir / "w.h5").string(), 5), UserError);  // nc disagrees with the file
}

}  // namespace
}  // namespace shrike::model
