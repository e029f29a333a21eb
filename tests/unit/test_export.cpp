// tests/unit/test_export.cpp: export and import in-process: the safetensors reader
// and writer (round trip, and every malformed file the reference reader rejects),
// float16, BatchNorm folding against conv-then-BN, strict state-dict import (missing,
// extra, mis-shaped tensors, the class-count exception), and the ONNX model: checker,
// metadata, names, shapes, folding. The ONNX Runtime and PyTorch comparisons are the
// e2e tests (tests/integration/onnx_runtime.sh, tests/reference/check_safetensors_torch.py).
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "pipeline/core/error.h"
#include "pipeline/model/bn_folding.h"
#include "pipeline/model/float16.h"
#include "pipeline/model/inference_output.h"
#include "pipeline/model/onnx_export.h"
#include "pipeline/model/safetensors_file.h"
#include "pipeline/model/safetensors_weights.h"
#include "pipeline/model/state_dict_import.h"
#include "tests/unit/test_support.h"

namespace shrike::model {
namespace {

// ---- safetensors --------------------------------------------------------------------

SafetensorsContent small_content() {
  SafetensorsContent content;
  const std::vector<float> w{1.5f, -2.0f, 0.25f, 3.0f, 0.0f, -0.5f};
  const std::vector<std::int64_t> n{7};
  content.tensors["a.weight"] = float_tensor({2, 3}, w);
  content.tensors["a.half"] = float_tensor({3, 2}, w, /*half=*/true);
  content.tensors["a.count"] = int64_tensor({}, n);
  content.metadata = {{"nc", "4"}, {"names", "[\"x\"]"}};
  return content;
}

// Replaces the JSON header of serialised bytes (keeping the data) for malformed cases.
std::string with_header(const std::string& bytes, const std::string& header) {
  std::uint64_t old_length;
  std::memcpy(&old_length, bytes.data(), 8);
  std::string out(8, '\0');
  const std::uint64_t length = header.size();
  std::memcpy(out.data(), &length, 8);
  return out + header + bytes.substr(8 + old_length);
}

std::string user_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& error) {
    return error.what();
  }
  return "(no UserError)";
}

TEST(ExportSafetensors, RoundTripsTensorsAndMetadata) {
  const SafetensorsContent content = small_content();
  const std::string bytes = serialize_safetensors(content);
  std::uint64_t header_length;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ((8 + header_length) % 8, 0u) << "data section 8-byte aligned";
  const SafetensorsContent back = parse_safetensors(bytes, "mem");
  EXPECT_EQ(back.metadata, content.metadata);
  ASSERT_EQ(back.tensors.size(), 3u);
  EXPECT_EQ(back.tensors.at("a.weight").dtype, "F32");
  EXPECT_EQ(back.tensors.at("a.half").dtype, "F16");
  EXPECT_EQ(back.tensors.at("a.count").shape, std::vector<std::int64_t>{});
  EXPECT_EQ(tensor_floats(back.tensors.at("a.weight"), "w"),
            (std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f, 0.0f, -0.5f}));
  EXPECT_EQ(tensor_floats(back.tensors.at("a.half"), "h"), (std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f, 0.0f, -0.5f}));
  EXPECT_EQ(tensor_integers(back.tensors.at("a.count"), "n"), std::vector<std::int64_t>{7});
  EXPECT_NE(user_error_of([&] { tensor_integers(back.tensors.at("a.weight"), "a.weight"); }).find("a.weight is F32"),
            std::string::npos);
}

TEST(ExportSafetensors, RejectsMalformedFilesNamingWhatIsWrong) {
  const std::string good = serialize_safetensors(small_content());
  struct Case {
    std::string bytes, expected;
  };
  const std::string count = R"("a.count":{"dtype":"I64","shape":[],"data_offsets":[0,8]})";
  const std::string half = R"("a.half":{"dtype":"F16","shape":[3,2],"data_offsets":[8,20]})";
  const std::vector<Case> cases = {
      {good.substr(0, 5), "too short"},
      {good.substr(0, 40), "runs past the end"},
      {with_header(good, "[1, 2]"), "does not start with '{'"},
      {with_header(good, "{\"a\": "), "not valid JSON"},
      {with_header(good, R"({"a.count":{"dtype":"Q7","shape":[],"data_offsets":[0,8]}})"), "unknown dtype 'Q7'"},
      {with_header(good, R"({"a.count":{"dtype":"I64","shape":[2],"data_offsets":[0,8]}})"), "needs 16 bytes"},
      {with_header(good, R"({"a.count":{"dtype":"I64","shape":[],"data_offsets":[8,0]}})"), "before begin"},
      {with_header(good, "{" + count + "," + R"("b":{"dtype":"I64","shape":[],"data_offsets":[4,12]}})"),
       "overlapping"},
      {with_header(good, "{" + count + "," + R"("b":{"dtype":"F32","shape":[],"data_offsets":[12,16]}})"), "a gap"},
      {with_header(good, "{" + count + "}"), "data section holds"},
      {with_header(good, "{" + count + "," + half + R"(,"__metadata__":{"nc":4}})"), "must be strings"},
      {with_header(good, R"({"a.count":{"dtype":"I64","shape":[],"data_offsets":[0,999]}})"), "needs 8 bytes"},
      {with_header(good, R"({"x":{"dtype":"F32","shape":[250],"data_offsets":[0,1000]}})"), "past the end of the data"},
  };
  for (const Case& c : cases) {
    EXPECT_NE(user_error_of([&] { parse_safetensors(c.bytes, "bad.safetensors"); }).find(c.expected), std::string::npos)
        << "expected '" << c.expected << "', got: " << user_error_of([&] { parse_safetensors(c.bytes, "bad"); });
  }
}

TEST(ExportSafetensors, MissingFileIsAUserError) {
  EXPECT_NE(user_error_of([] { read_safetensors("/nonexistent/x.safetensors"); }).find("cannot open"),
            std::string::npos);
}

TEST(ExportFloat16, ConvertsWithRoundToNearestEven) {
  EXPECT_EQ(float_to_half_bits(0.1f), 0x2e66);
  EXPECT_EQ(float_to_half_bits(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half_bits(1e6f), 0x7c00);  // overflow: inf
  EXPECT_EQ(float_to_half_bits(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half_bits(1.0f + 1.0f / 2048), 0x3c00);  // tie rounds to even
  EXPECT_EQ(half_bits_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(bfloat16_bits_to_float(0x3f80), 1.0f);
}

// ---- BatchNorm folding ----------------------------------------------------------------

TEST(ExportBatchNormFolding, EqualsConvThenEvalBatchNorm) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1), pos(0.5f, 2.0f);
  const int out = 4, in = 3;
  std::vector<float> w(out * in), b(out), gamma(out), beta(out), mean(out), var(out), x(in);
  for (auto* v : {&w, &b, &beta, &mean, &x})
    for (float& e : *v) e = u(rng);
  for (auto* v : {&gamma, &var})
    for (float& e : *v) e = pos(rng);
  const float eps = 1e-3f;
  for (bool with_bias : {false, true}) {
    const FoldedConv folded = fold_batchnorm(w, with_bias ? std::span<const float>(b) : std::span<const float>(),
                                             {gamma, beta, mean, var, eps});
    for (int o = 0; o < out; ++o) {
      double y = with_bias ? b[o] : 0.0, y_folded = folded.bias[o];
      for (int i = 0; i < in; ++i) {
        y += static_cast<double>(w[o * in + i]) * x[i];
        y_folded += static_cast<double>(folded.weight[o * in + i]) * x[i];
      }
      const double bn = (y - mean[o]) / std::sqrt(var[o] + eps) * gamma[o] + beta[o];
      EXPECT_NEAR(y_folded, bn, 1e-6 * std::max(1.0, std::abs(bn))) << "channel " << o << " bias " << with_bias;
    }
  }
}

// ---- state-dict import ------------------------------------------------------------------

StateDict state_of(const ParamStore& params) {
  StateDict state;
  for (int i = 0; i < static_cast<int>(params.entries().size()); ++i) {
    const TensorEntry& e = params.entry(i);
    state.shapes[e.name] = e.shape;
    if (e.role == TensorRole::kCounter) {
      state.counters[e.name] = {42};
    } else {
      state.floats[e.name].assign(params.value(i), params.value(i) + e.numel);
    }
  }
  return state;
}

TEST(ExportImport, CopiesEveryTensorOfAMatchingStateDict) {
  Model source(load_model_spec("yolov8n.yaml", 4));
  source.initialize(7);
  Model target(load_model_spec("yolov8n.yaml", 4));
  target.initialize(8);
  const ImportReport report = import_state_dict(target, state_of(source.params()), "src");
  EXPECT_EQ(report.kept, source.params().entries().size());
  EXPECT_TRUE(report.reinitialised.empty());
  EXPECT_TRUE(std::equal(source.params().float_state().begin(), source.params().float_state().end(),
                         target.params().float_state().begin()));
  EXPECT_EQ(target.params().counters()[0], 42);
}

TEST(ExportImport, MissingExtraAndMisshapedTensorsAreNamed) {
  Model model(load_model_spec("yolov8n.yaml", 4));
  StateDict missing = state_of(model.params());
  missing.shapes.erase("model.5.conv.weight");
  missing.floats.erase("model.5.conv.weight");
  EXPECT_NE(user_error_of([&] {
              import_state_dict(model, missing, "f.safetensors");
            }).find("f.safetensors: tensor model.5.conv.weight is missing"),
            std::string::npos);

  StateDict extra = state_of(model.params());
  extra.shapes["model.23.foo.weight"] = {1};
  extra.floats["model.23.foo.weight"] = {0.0f};
  EXPECT_NE(user_error_of([&] { import_state_dict(model, extra, "f"); }).find("tensor model.23.foo.weight is not part"),
            std::string::npos);

  StateDict misshaped = state_of(model.params());
  misshaped.shapes["model.0.conv.weight"] = {16, 3, 5, 5};
  const std::string message = user_error_of([&] { import_state_dict(model, misshaped, "f"); });
  EXPECT_NE(message.find("model.0.conv.weight has shape [16, 3, 5, 5], yolov8n expects [16, 3, 3, 3]"),
            std::string::npos)
      << message;

  StateDict float_counter = state_of(model.params());
  float_counter.counters.erase("model.0.bn.num_batches_tracked");
  float_counter.floats["model.0.bn.num_batches_tracked"] = {1.0f};
  EXPECT_NE(user_error_of([&] { import_state_dict(model, float_counter, "f"); }).find("should hold integers"),
            std::string::npos);
}

TEST(ExportImport, AnotherClassCountKeepsAllButTheClassBranches) {
  Model source(load_model_spec("yolov8n.yaml", 80));  // c3 = max(64, 80): the whole cv3 depends on nc
  source.initialize(1);
  Model target(load_model_spec("yolov8n.yaml", 4));
  target.initialize(2);
  const StateDict state = state_of(source.params());
  EXPECT_EQ(class_count_of(state), 80);
  const ImportReport report = import_state_dict(target, state, "coco.safetensors");
  EXPECT_EQ(report.file_nc, 80);
  ASSERT_FALSE(report.reinitialised.empty());
  for (const std::string& name : report.reinitialised) EXPECT_NE(name.find(".cv3."), std::string::npos) << name;
  EXPECT_EQ(report.kept + report.reinitialised.size(), target.params().entries().size());
  const int box = target.params().find("model.22.cv2.0.2.weight");  // outside the class branch: kept
  EXPECT_EQ(*target.params().value(box), *source.params().value(source.params().find("model.22.cv2.0.2.weight")));
}

TEST(ExportImport, SafetensorsMetadataRoundTrip) {
  Model model(load_model_spec("yolo11n.yaml", 3));
  model.initialize(5);
  WeightsInfo info{3, {"a", "b", "c"}, "yolo11n.yaml", 320, {8, 16, 32}};
  const SafetensorsContent content = safetensors_from_params(model.params(), info, false);
  const WeightsInfo back = weights_info_from_metadata(content.metadata, "m");
  EXPECT_EQ(back.nc, 3);
  EXPECT_EQ(back.names, info.names);
  EXPECT_EQ(back.model_yaml, "yolo11n.yaml");
  EXPECT_EQ(back.imgsz, 320);
  EXPECT_EQ(back.stride, info.stride);
  EXPECT_EQ(content.metadata.at("format"), "pt");
  Model copy(load_model_spec("yolo11n.yaml", 3));
  import_state_dict(copy, state_dict_from_safetensors(content, "m"), "m");
  EXPECT_TRUE(std::equal(model.params().float_state().begin(), model.params().float_state().end(),
                         copy.params().float_state().begin()));
  EXPECT_NE(user_error_of([] {
              weights_info_from_metadata({{"nc", "four"}}, "m");
            }).find("'nc' is 'four'"),
            std::string::npos);
}

// ---- ONNX ---------------------------------------------------------------------------------

std::map<std::string, std::string> metadata_of(const onnx::ModelProto& proto) {
  std::map<std::string, std::string> props;
  for (const auto& entry : proto.metadata_props()) props[entry.key()] = entry.value();
  return props;
}

std::vector<std::int64_t> dims_of(const onnx::ValueInfoProto& value) {
  std::vector<std::int64_t> dims;
  for (const auto& d : value.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return dims;
}

TEST(ExportOnnx, Yolo11nPassesTheCheckerWithTheReferenceLayout) {
  Model model(load_model_spec("yolo11n.yaml", 3));
  model.initialize(1);
  OnnxExportOptions options;
  options.height = 64;
  options.width = 96;
  OnnxExportSummary summary;
  const onnx::ModelProto proto = build_onnx_model(model, {"cat", "dog's", "car"}, options, &summary);
  EXPECT_NO_THROW(check_onnx_model(proto));
  EXPECT_EQ(proto.ir_version(), 8);
  EXPECT_EQ(proto.opset_import(0).version(), 17);
  const onnx::GraphProto& g = proto.graph();
  ASSERT_EQ(g.input_size(), 1);
  ASSERT_EQ(g.output_size(), 1);
  EXPECT_EQ(g.input(0).name(), "images");
  EXPECT_EQ(g.output(0).name(), "output0");
  EXPECT_EQ(dims_of(g.input(0)), (std::vector<std::int64_t>{1, 3, 64, 96}));
  EXPECT_EQ(dims_of(g.output(0)), (std::vector<std::int64_t>{1, 7, 8 * 12 + 4 * 6 + 2 * 3}));
  for (const auto& node : g.node()) EXPECT_NE(node.op_type(), "BatchNormalization") << node.name();
  EXPECT_EQ(summary.folded_batchnorms, 81);  // every BatchNorm of yolo11n
  const auto props = metadata_of(proto);
  EXPECT_EQ(props.at("names"), "{0: 'cat', 1: \"dog's\", 2: 'car'}");
  EXPECT_EQ(props.at("imgsz"), "[64, 96]");
  EXPECT_EQ(props.at("stride"), "32");
  EXPECT_EQ(props.at("task"), "detect");
  EXPECT_EQ(props.at("args"),
            "{'batch': 1, 'half': False, 'dynamic': False, 'simplify': False, 'opset': 17, 'nms': False}");
  for (const char* key : {"date", "version", "description", "author", "batch"}) EXPECT_TRUE(props.count(key)) << key;
}

TEST(ExportOnnx, DynamicHalfAndOpset13WriteValidFiles) {
  Model model(load_model_spec("yolov8n.yaml", 2));
  model.initialize(1);
  test::TempDir dir;
  OnnxExportOptions options;
  options.height = options.width = 64;
  options.dynamic = true;
  options.half = true;
  options.opset = 13;
  const OnnxExportSummary summary = export_onnx(model, {"a", "b"}, options, dir / "m.onnx");
  EXPECT_EQ(summary.output_dims, (std::vector<std::string>{"batch", "6", "anchors"}));
  EXPECT_NO_THROW(onnx::checker::check_model((dir / "m.onnx").string()));  // the file as written
  onnx::ModelProto back;
  std::ifstream in(dir / "m.onnx", std::ios::binary);
  ASSERT_TRUE(back.ParseFromIstream(&in));
  EXPECT_EQ(back.ir_version(), 7);
  EXPECT_EQ(back.graph().input(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT16);
  EXPECT_EQ(back.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  EXPECT_EQ(metadata_of(back).at("args"),
            "{'batch': 1, 'half': True, 'dynamic': True, 'simplify': False, 'opset': 13, 'nms': False}");
}

TEST(ExportOnnx, BadOptionsAreUserErrors) {
  Model model(load_model_spec("yolov8n.yaml", 2));
  OnnxExportOptions options;
  options.height = options.width = 64;
  options.opset = 18;
  EXPECT_NE(user_error_of([&] {
              build_onnx_model(model, {"a", "b"}, options);
            }).find("--opset 18 is not supported"),
            std::string::npos);
  options.opset = 17;
  options.height = 100;
  EXPECT_NE(user_error_of([&] {
              build_onnx_model(model, {"a", "b"}, options);
            }).find("not a multiple"),
            std::string::npos);
}

TEST(ExportOnnx, CheckerFailuresCarryTheCheckersMessage) {
  Model model(load_model_spec("yolov8n.yaml", 2));
  OnnxExportOptions options;
  options.height = options.width = 64;
  onnx::ModelProto proto = build_onnx_model(model, {"a", "b"}, options);
  proto.mutable_graph()->mutable_node(3)->set_op_type("NoSuchOp");
  try {
    check_onnx_model(proto);
    FAIL() << "an unknown op passed the checker";
  } catch (const InternalError& error) {
    EXPECT_NE(std::string(error.what()).find("onnx::checker"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("NoSuchOp"), std::string::npos) << error.what();
  }
}

TEST(ExportInferenceOutput, IsTheDecodeInTheReferenceLayout) {
  Model model(load_model_spec("yolov8n.yaml", 2));
  model.initialize(1);
  const Shape4 shape{2, 3, 64, 32};
  std::vector<float> images(shape.numel(), 0.5f);
  const InferenceOutput out = run_inference(model, shape, images);
  EXPECT_EQ(out.batch, 2);
  EXPECT_EQ(out.rows, 6);
  EXPECT_EQ(out.anchors, 8 * 4 + 4 * 2 + 2 * 1);
  for (std::int64_t a = 0; a < out.anchors; ++a) {  // scores are sigmoids; widths positive
    EXPECT_GT(out.values[static_cast<std::size_t>(2 * out.anchors + a)], 0.0f);
    const float score = out.values[static_cast<std::size_t>(4 * out.anchors + a)];
    EXPECT_TRUE(score > 0.0f && score < 1.0f);
  }
  EXPECT_NE(user_error_of([&] {
              run_inference(model, {1, 3, 64, 96}, images);
            }).find("expected (B, 3, H, W)"),
            std::string::npos);
}

}  // namespace
}  // namespace shrike::model
