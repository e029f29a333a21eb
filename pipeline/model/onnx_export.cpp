// pipeline/model/onnx_export.cpp: the model's op graph to ONNX nodes (BatchNorm folded),
// the Detect decode, metadata, checking and writing (see onnx_export.h).
#include "pipeline/model/onnx_export.h"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <onnx/checker.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <set>

#include "build_info.h"
#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/core/utc_time.h"
#include "pipeline/model/bn_folding.h"
#include "pipeline/model/graph_ops.h"
#include "pipeline/model/modules.h"
#include "pipeline/model/onnx_detect_head.h"
#include "pipeline/model/onnx_graph_writer.h"

namespace shrike::model {

namespace {

using Int64s = std::vector<std::int64_t>;

std::span<const float> param_values(const ParamStore& params, const std::string& name) {
  const int index = params.find(name);
  if (index < 0) fail_internal("ONNX export: parameter {} is not in the model", name);
  return {params.value(index), params.entry(index).numel};
}

Int64s param_shape(const ParamStore& params, const std::string& name) { return params.entry(params.find(name)).shape; }

// Walks the op list once, writing a node (or a few) per op. Tensor ids map to ONNX
// names; a BatchNorm folded into its convolution maps its output to the conv's.
class GraphTranslator {
 public:
  GraphTranslator(Graph& graph, OnnxGraphWriter& writer) : graph_(graph), w_(writer) {
    int tensors = 1;
    for (const auto& op : graph.ops()) {
      for (int t : op->outputs) tensors = std::max(tensors, t + 1);
    }
    names_.resize(static_cast<std::size_t>(tensors));
    readers_.assign(static_cast<std::size_t>(tensors), 0);
    for (const auto& op : graph.ops()) {
      for (int t : op->inputs) ++readers_[static_cast<std::size_t>(t)];
    }
    for (int t : graph.outputs()) ++readers_[static_cast<std::size_t>(t)];
    names_[0] = "images";
  }

  void translate() {
    const auto& ops = graph_.ops();
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const GraphOp& op = *ops[i];
      if (skip_.count(i)) continue;
      const std::string kind = op.kind();
      if (kind == "conv") {
        const GraphOp* bn = folding_partner(i);
        conv(static_cast<const ConvOp&>(op), bn);
        if (bn != nullptr) skip_.insert(i + 1);
      } else if (kind == "batchnorm") {
        batchnorm(op);
      } else if (kind == "silu") {
        const std::string sigmoid = w_.op("Sigmoid", {in(op, 0)}, op.module);
        set(op, 0, w_.op("Mul", {in(op, 0), sigmoid}, op.module));
      } else if (kind == "add") {
        set(op, 0, w_.op("Add", {in(op, 0), in(op, 1)}, op.module));
      } else if (kind == "concat") {
        std::vector<std::string> inputs;
        for (std::size_t k = 0; k < op.inputs.size(); ++k) inputs.push_back(in(op, k));
        set(op, 0, w_.op("Concat", inputs, op.module, {{"axis", std::int64_t{1}}}));
      } else if (kind == "split") {
        split(op);
      } else if (kind == "maxpool") {
        maxpool(static_cast<const MaxPoolOp&>(op));
      } else if (kind == "upsample") {
        upsample(static_cast<const UpsampleOp&>(op));
      } else if (kind == "attention") {
        attention(static_cast<const AttentionOp&>(op));
      } else if (kind == "to_nchw") {  // the CPU engine's memory order; ONNX tensors are NCHW throughout
        set(op, 0, in(op, 0));
      } else {
        fail_internal("ONNX export: no translation for op '{}' ({})", kind, op.module);
      }
    }
  }

  std::string name_of(int tensor) const { return names_.at(static_cast<std::size_t>(tensor)); }
  int folded_batchnorms() const { return folded_; }

 private:
  std::string in(const GraphOp& op, std::size_t k) const { return name_of(op.inputs.at(k)); }
  void set(const GraphOp& op, std::size_t k, const std::string& name) {
    names_[static_cast<std::size_t>(op.outputs.at(k))] = name;
  }

  // The BatchNorm that directly follows conv op `i` and is its output's only reader.
  const GraphOp* folding_partner(std::size_t i) const {
    const auto& ops = graph_.ops();
    if (i + 1 >= ops.size()) return nullptr;
    const GraphOp& next = *ops[i + 1];
    const int conv_out = ops[i]->outputs[0];
    if (std::string(next.kind()) != "batchnorm" || next.inputs[0] != conv_out) return nullptr;
    return readers_[static_cast<std::size_t>(conv_out)] == 1 ? &next : nullptr;
  }

  void conv(const ConvOp& op, const GraphOp* bn) {
    const ParamStore& p = graph_.params();
    const kernels::ConvGeometry& g = op.geometry();
    const std::string weight_name = op.module + ".weight";
    std::span<const float> bias;
    if (g.bias) bias = param_values(p, op.module + ".bias");
    FoldedConv values;
    if (bn != nullptr) {
      BatchNormState state{param_values(p, bn->module + ".weight"), param_values(p, bn->module + ".bias"),
                           param_values(p, bn->module + ".running_mean"), param_values(p, bn->module + ".running_var"),
                           BatchNormOp::kEps};
      values = fold_batchnorm(param_values(p, weight_name), bias, state);
      ++folded_;
    } else {
      const auto w = param_values(p, weight_name);
      values.weight.assign(w.begin(), w.end());
      values.bias.assign(bias.begin(), bias.end());
    }
    std::vector<std::string> inputs{in(op, 0),
                                    w_.float_weight(weight_name, param_shape(p, weight_name), values.weight)};
    if (!values.bias.empty()) {
      inputs.push_back(w_.float_weight(op.module + ".bias", {g.out_channels}, values.bias));
    }
    const std::int64_t k = g.kernel, s = g.stride, pad = g.padding;
    const std::string out = w_.op("Conv", inputs, op.module,
                                  {{"dilations", Int64s{1, 1}},
                                   {"group", std::int64_t{g.groups}},
                                   {"kernel_shape", Int64s{k, k}},
                                   {"pads", Int64s{pad, pad, pad, pad}},
                                   {"strides", Int64s{s, s}}});
    set(op, 0, out);
    if (bn != nullptr) set(*bn, 0, out);
  }

  void batchnorm(const GraphOp& op) {  // one not preceded by its own conv (none in YOLO)
    const ParamStore& p = graph_.params();
    std::vector<std::string> inputs{in(op, 0)};
    for (const char* part : {".weight", ".bias", ".running_mean", ".running_var"}) {
      const std::string name = op.module + part;
      inputs.push_back(w_.float_weight(name, param_shape(p, name), param_values(p, name)));
    }
    set(op, 0, w_.op("BatchNormalization", inputs, op.module, {{"epsilon", BatchNormOp::kEps}}));
  }

  void split(const GraphOp& op) {
    Int64s sizes;
    for (int t : op.outputs) sizes.push_back(graph_.shape(t).c);
    const auto outs = w_.node("Split", {in(op, 0), w_.int64s(sizes)}, op.module, {{"axis", std::int64_t{1}}},
                              static_cast<int>(sizes.size()));
    for (std::size_t k = 0; k < outs.size(); ++k) set(op, k, outs[k]);
  }

  void maxpool(const MaxPoolOp& op) {
    const kernels::PoolGeometry& g = op.geometry();
    const std::int64_t k = g.kernel, s = g.stride, pad = g.padding;
    set(op, 0,
        w_.op("MaxPool", {in(op, 0)}, op.module,
              {{"ceil_mode", std::int64_t{0}},
               {"dilations", Int64s{1, 1}},
               {"kernel_shape", Int64s{k, k}},
               {"pads", Int64s{pad, pad, pad, pad}},
               {"strides", Int64s{s, s}}}));
  }

  // nn.Upsample(scale_factor, 'nearest'): output pixel (y, x) reads input (y / f, x / f)
  // rounded down, i.e. Resize nearest with asymmetric coordinates and floor.
  void upsample(const UpsampleOp& op) {
    const auto f = static_cast<float>(op.factor());
    const std::vector<float> scales{1.0f, 1.0f, f, f};
    const std::string scales_name = w_.float32_tensor("/" + op.module + "/scales", {4}, scales);
    set(op, 0,
        w_.op("Resize", {in(op, 0), "", scales_name}, op.module,
              {{"coordinate_transformation_mode", std::string("asymmetric")},
               {"mode", std::string("nearest")},
               {"nearest_mode", std::string("floor")}}));
  }

  // The reference's Attention.forward after the qkv conv:
  //   q, k, v = qkv.view(B, heads, 2 kd + hd, N).split([kd, kd, hd], 2)
  //   attn = softmax(q^T k * scale, -1); out = (v attn^T).view(B, C, H, W); v_image = v.view(B, C, H, W)
  void attention(const AttentionOp& op) {
    const kernels::AttentionGeometry& g = op.geometry();
    const std::string& m = op.module;
    const std::string qkv = in(op, 0);
    const std::string heads_view = w_.op("Reshape", {qkv, w_.int64s({0, g.heads, 2 * g.key_dim + g.head_dim, -1})}, m);
    const auto qkv_parts = w_.node("Split", {heads_view, w_.int64s({g.key_dim, g.key_dim, g.head_dim})}, m,
                                   {{"axis", std::int64_t{2}}}, 3);
    const std::string q_t = w_.op("Transpose", {qkv_parts[0]}, m, {{"perm", Int64s{0, 1, 3, 2}}});
    const std::string logits = w_.op("MatMul", {q_t, qkv_parts[1]}, m);
    const std::string scaled = w_.op("Mul", {logits, w_.scalar(g.scale)}, m);
    const std::string probs = w_.op("Softmax", {scaled}, m, {{"axis", std::int64_t{-1}}});
    const std::string probs_t = w_.op("Transpose", {probs}, m, {{"perm", Int64s{0, 1, 3, 2}}});
    const std::string mixed = w_.op("MatMul", {qkv_parts[2], probs_t}, m);
    // (B, C, H, W): batch copied (0), C fixed, H and W from qkv's shape (dynamic sizes too).
    const std::string hw =
        w_.op("Slice", {w_.op("Shape", {qkv}, m), w_.int64s({2}), w_.int64s({4}), w_.int64s({0})}, m);
    const std::string image_shape =
        w_.op("Concat", {w_.int64s({0, g.out_channels()}), hw}, m, {{"axis", std::int64_t{0}}});
    set(op, 0, w_.op("Reshape", {mixed, image_shape}, m));
    set(op, 1, w_.op("Reshape", {qkv_parts[2], image_shape}, m));
  }

  Graph& graph_;
  OnnxGraphWriter& w_;
  std::vector<std::string> names_;
  std::vector<int> readers_;
  std::set<std::size_t> skip_;
  int folded_ = 0;
};

// Python literals, as the reference's metadata holds them (its AutoBackend evaluates them).
std::string python_string(const std::string& text) {
  const bool double_quotes = text.find('\'') != std::string::npos && text.find('"') == std::string::npos;
  const char quote = double_quotes ? '"' : '\'';
  std::string out(1, quote);
  for (char c : text) {
    if (c == '\\' || c == quote) out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + quote;
}

std::string python_names(const std::vector<std::string>& names) {
  std::vector<std::string> items;
  for (std::size_t i = 0; i < names.size(); ++i) items.push_back(fmt::format("{}: {}", i, python_string(names[i])));
  return fmt::format("{{{}}}", fmt::join(items, ", "));
}

void add_metadata(onnx::ModelProto& proto, const Model& model, const std::vector<std::string>& names,
                  const OnnxExportOptions& options) {
  const char* python_bool[] = {"False", "True"};
  const std::vector<std::pair<std::string, std::string>> props = {
      {"description", fmt::format("shrike {} model", model.spec().name)},
      {"author", "shrike"},
      {"date", utc_timestamp_now()},
      {"version", fmt::format("{} (git {})", kVersion, kGitCommit)},
      {"license", "Apache-2.0"},
      {"stride", std::to_string(*std::max_element(model.strides().begin(), model.strides().end()))},
      {"task", "detect"},
      {"batch", "1"},
      {"imgsz", fmt::format("[{}, {}]", options.height, options.width)},
      {"names", python_names(names)},
      {"args", fmt::format("{{'batch': 1, 'half': {}, 'dynamic': {}, 'simplify': False, 'opset': {}, 'nms': False}}",
                           python_bool[options.half], python_bool[options.dynamic], options.opset)},
      {"channels", "3"},
  };
  for (const auto& [key, value] : props) {
    onnx::StringStringEntryProto* entry = proto.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }
}

void check_options(const Model& model, const std::vector<std::string>& names, const OnnxExportOptions& options) {
  if (options.opset < kMinOnnxOpset || options.opset > kMaxOnnxOpset) {
    fail_user("--opset {} is not supported: use {} to {} (default 17)", options.opset, kMinOnnxOpset, kMaxOnnxOpset);
  }
  const int stride = *std::max_element(model.strides().begin(), model.strides().end());
  if (options.height % stride != 0 || options.width % stride != 0 || options.height <= 0 || options.width <= 0) {
    fail_user("--imgsz {}x{} is not a multiple of the model's largest stride {}", options.height, options.width,
              stride);
  }
  if (static_cast<int>(names.size()) != model.nc()) {
    fail_internal("ONNX export: {} class names for {} classes", names.size(), model.nc());
  }
}

}  // namespace

onnx::ModelProto build_onnx_model(Model& model, const std::vector<std::string>& names, const OnnxExportOptions& options,
                                  OnnxExportSummary* summary) {
  check_options(model, names, options);
  onnx::ModelProto proto;
  proto.set_ir_version(options.opset <= 14 ? 7 : 8);
  proto.set_producer_name("shrike");
  proto.set_producer_version(kVersion);
  proto.set_model_version(1);
  onnx::OperatorSetIdProto* opset = proto.add_opset_import();
  opset->set_domain("");
  opset->set_version(options.opset);
  onnx::GraphProto* graph_proto = proto.mutable_graph();
  graph_proto->set_name(model.spec().name);

  OnnxGraphWriter writer(graph_proto, options.half);
  Graph& graph = model.graph({1, 3, options.height, options.width});
  GraphTranslator translator(graph, writer);
  translator.translate();

  DetectHeadExport head;
  for (int t : graph.outputs()) {
    head.maps.push_back(translator.name_of(t));
    head.shapes.push_back(graph.shape(t));
  }
  head.strides = model.strides();
  head.nc = model.nc();
  head.reg_max = kRegMax;
  head.scope = "model." + std::to_string(model.spec().layers.back().index);
  head.dfl_weight = param_values(model.params(), head.scope + ".dfl.conv.weight");
  head.dynamic = options.dynamic;
  append_detect_decode(writer, head, "output0");

  std::int64_t anchors = 0;
  for (const auto& s : head.shapes) anchors += static_cast<std::int64_t>(s.h) * s.w;
  const std::int64_t rows = 4 + model.nc();
  if (options.dynamic) {
    writer.add_input("images", {std::string("batch"), std::int64_t{3}, std::string("height"), std::string("width")});
    writer.add_output("output0", {std::string("batch"), rows, std::string("anchors")});
  } else {
    writer.add_input("images",
                     {std::int64_t{1}, std::int64_t{3}, std::int64_t{options.height}, std::int64_t{options.width}});
    writer.add_output("output0", {std::int64_t{1}, rows, anchors});
  }
  add_metadata(proto, model, names, options);
  if (summary != nullptr) {
    summary->nodes = static_cast<std::size_t>(graph_proto->node_size());
    summary->initializers = static_cast<std::size_t>(graph_proto->initializer_size());
    summary->folded_batchnorms = translator.folded_batchnorms();
    summary->output_dims = options.dynamic
                               ? std::vector<std::string>{"batch", std::to_string(rows), "anchors"}
                               : std::vector<std::string>{"1", std::to_string(rows), std::to_string(anchors)};
  }
  return proto;
}

void check_onnx_model(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict_mode=*/1));
  } catch (const std::exception& error) {
    fail_internal("the exported ONNX model does not pass onnx::checker: {}", error.what());
  }
}

OnnxExportSummary export_onnx(Model& model, const std::vector<std::string>& names, const OnnxExportOptions& options,
                              const std::filesystem::path& path) {
  OnnxExportSummary summary;
  const onnx::ModelProto proto = build_onnx_model(model, names, options, &summary);
  check_onnx_model(proto);
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) fail_internal("ModelProto::SerializeToString failed for {}", path.string());
  summary.bytes = bytes.size();
  write_file_atomically(path, bytes);
  return summary;
}

}  // namespace shrike::model
