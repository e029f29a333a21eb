// pipeline/model/network.cpp: layer dispatch with the reference's argument rules.
#include "pipeline/model/network.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "pipeline/core/error.h"
#include "pipeline/model/graph_builder.h"
#include "pipeline/model/modules.h"

namespace shrike::model {

namespace {

// Reads argument `i` of a layer with a default.
struct Args {
  const ModelSpec& spec;
  const LayerSpec& layer;

  bool has(std::size_t i) const { return i < layer.args.size() && layer.args[i].kind != ModuleArg::Kind::kNull; }
  int integer(std::size_t i, int fallback) const {
    if (!has(i)) return fallback;
    const ModuleArg& a = layer.args[i];
    if (a.kind != ModuleArg::Kind::kNumber || a.number != static_cast<int>(a.number)) {
      fail_user("{}: argument {} must be an integer", spec.where(layer), i + 1);
    }
    return static_cast<int>(a.number);
  }
  double real(std::size_t i, double fallback) const {
    if (!has(i)) return fallback;
    if (layer.args[i].kind != ModuleArg::Kind::kNumber) fail_user("{}: argument {} must be a number", spec.where(layer), i + 1);
    return layer.args[i].number;
  }
  bool flag(std::size_t i, bool fallback) const {
    if (!has(i)) return fallback;
    const ModuleArg& a = layer.args[i];
    if (a.kind == ModuleArg::Kind::kBool) return a.boolean;
    if (a.kind == ModuleArg::Kind::kNumber) return a.number != 0;
    fail_user("{}: argument {} must be True or False", spec.where(layer), i + 1);
  }
  std::string text(std::size_t i, const std::string& fallback) const {
    return has(i) && layer.args[i].kind == ModuleArg::Kind::kString ? layer.args[i].text : fallback;
  }
};

// Builds one layer; returns its output tensor(s).
class LayerBuilder {
 public:
  LayerBuilder(const ModelSpec& spec, GraphBuilder& b) : spec_(spec), b_(b) {}

  std::vector<int> build(const LayerSpec& layer, const std::vector<int>& inputs, std::string* arguments) {
    Args a{spec_, layer};
    const std::string prefix = "model." + std::to_string(layer.index);
    const std::string& m = layer.module;
    const int x = inputs.front();
    const int c1 = b_.channels(x);
    if (m == "Detect") {
      *arguments = fmt::format("[{}, {}]", spec_.nc, channels_of(inputs));
      return detect_module(b_, inputs, prefix, spec_.nc, dwconv_class_branch_);
    }
    if (inputs.size() != 1 && m != "Concat") fail_user("{}: takes one input, 'from' lists {}", spec_.where(layer), inputs.size());
    if (m == "Concat") {
      if (a.integer(0, 1) != 1) fail_user("{}: only channel concatenation (dimension 1) is supported", spec_.where(layer));
      *arguments = "[1]";
      return {b_.concat(inputs, prefix)};
    }
    if (m == "nn.Upsample") {
      if (a.text(2, "nearest") != "nearest") fail_user("{}: only 'nearest' upsampling is supported", spec_.where(layer));
      const int factor = a.integer(1, 2);
      *arguments = fmt::format("[None, {}, 'nearest']", factor);
      return {b_.upsample(x, factor, prefix)};
    }
    const int c2 = spec_.scaled_channels(a.integer(0, c1));
    const int n = layer.repeats;
    if (m == "C2f") {
      const bool shortcut = a.flag(1, false);
      const double e = a.real(2, 0.5);
      *arguments = fmt::format("[{}, {}, {}, {}]", c1, c2, n, shortcut ? "True" : "False");
      return {c2f_module(b_, x, prefix, c2, n, shortcut, e)};
    }
    if (m == "C3") {
      const bool shortcut = a.flag(1, true);
      *arguments = fmt::format("[{}, {}, {}, {}]", c1, c2, n, shortcut ? "True" : "False");
      return {c3_module(b_, x, prefix, c2, n, shortcut, a.real(2, 0.5))};
    }
    if (m == "C3k2") {
      dwconv_class_branch_ = true;  // the reference's `legacy = False`: YOLO11's Detect
      const bool c3k = spec_.scale.find_first_of("mlx") != std::string::npos && !spec_.scale.empty()
                           ? true
                           : a.flag(1, false);
      const double e = a.real(2, 0.5);
      const bool shortcut = a.flag(4, true);
      *arguments = fmt::format("[{}, {}, {}, {}, {}]", c1, c2, n, c3k ? "True" : "False", e);
      return {c3k2_module(b_, x, prefix, c2, n, c3k, e, shortcut)};
    }
    if (m == "C2PSA") {
      *arguments = fmt::format("[{}, {}, {}]", c1, c2, n);
      return {c2psa_module(b_, x, prefix, c2, n, a.real(1, 0.5))};
    }
    // Modules without a repeat argument: n copies in sequence (named prefix.j).
    int y = x;
    for (int j = 0; j < n; ++j) {
      const std::string name = n > 1 ? prefix + "." + std::to_string(j) : prefix;
      if (m == "Conv") {
        const int k = a.integer(1, 1), s = a.integer(2, 1), g = a.integer(4, 1);
        *arguments = fmt::format("[{}, {}, {}, {}]", c1, c2, k, s);
        y = conv_module(b_, y, name, c2, k, s, g, a.flag(6, true));
      } else if (m == "DWConv") {
        const int k = a.integer(1, 1), s = a.integer(2, 1);
        *arguments = fmt::format("[{}, {}, {}, {}]", c1, c2, k, s);
        y = dwconv_module(b_, y, name, c2, k, s);
      } else if (m == "SPPF") {
        const int k = a.integer(1, 5);
        *arguments = fmt::format("[{}, {}, {}]", c1, c2, k);
        y = sppf_module(b_, y, name, c2, k);
      } else {
        fail_user("{}: module '{}' is not supported", spec_.where(layer), m);
      }
    }
    return {y};
  }

 private:
  std::string channels_of(const std::vector<int>& inputs) const {
    std::vector<int> channels;
    for (int t : inputs) channels.push_back(b_.channels(t));
    return fmt::format("[{}]", fmt::join(channels, ", "));
  }

  const ModelSpec& spec_;
  GraphBuilder& b_;
  bool dwconv_class_branch_ = false;
};

}  // namespace

BuiltNetwork build_network(const ModelSpec& spec, ParamStore& params, Shape4 input, GraphStorage storage) {
  return build_network(spec, params, input, storage, Graph::default_layout(storage));
}

BuiltNetwork build_network(const ModelSpec& spec, ParamStore& params, Shape4 input, GraphStorage storage,
                           kernels::Layout layout) {
  if (input.h % 32 != 0 || input.w % 32 != 0) {
    fail_user("image size {}x{} is not a multiple of 32 (the largest stride); use e.g. {}x{}", input.h, input.w,
              (input.h + 31) / 32 * 32, (input.w + 31) / 32 * 32);
  }
  GraphBuilder b(params, input, storage, layout);
  LayerBuilder layers(spec, b);
  BuiltNetwork built;
  std::vector<std::vector<int>> outputs;  // per layer
  for (const LayerSpec& layer : spec.layers) {
    std::vector<int> inputs;
    for (int f : layer.from) inputs.push_back(f < 0 ? b.input() : outputs[static_cast<std::size_t>(f)].front());
    LayerSummary summary{layer.index, layer.from_written, layer.repeats, layer.module, "", 0, {}};
    outputs.push_back(layers.build(layer, inputs, &summary.arguments));
    summary.parameters = params.parameter_count("model." + std::to_string(layer.index) + ".");
    summary.output = b.shape(outputs.back().front());
    built.layers.push_back(summary);
  }
  const std::vector<int>& heads = outputs.back();
  for (int head : heads) built.strides.push_back(input.h / b.shape(head).h);
  built.graph = b.finish(heads);
  return built;
}

}  // namespace shrike::model
