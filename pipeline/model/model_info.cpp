// pipeline/model/model_info.cpp: the layer table and the summary line.
#include "pipeline/model/model_info.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "pipeline/model/graph_ops.h"

namespace shrike::model {

namespace {

std::string with_commas(std::size_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string from_text(const std::vector<int>& from) {
  return from.size() == 1 ? std::to_string(from[0]) : fmt::format("[{}]", fmt::join(from, ", "));
}


double reference_gflops_of(const Graph& graph) {
  double macs = 0;
  for (const auto& op : graph.ops()) {
    if (std::string(op->kind()) != "conv") continue;
    const auto* conv = static_cast<const ConvOp*>(op.get());
    macs += conv->macs();  // the profiler counts no bias term
  }
  return 2.0 * macs / 1e9;
}

}  // namespace

double reference_gflops(Model& model, int imgsz) {
  ParamStore scratch;
  BuiltNetwork built = build_network(model.spec(), scratch, {1, 3, imgsz, imgsz});
  return reference_gflops_of(*built.graph);
}

std::string format_model_info(Model& model, int imgsz) {
  std::string out = fmt::format("{:>4} {:>12} {:>3} {:>10}  {:<12} {:<34} {}\n", "", "from", "n", "params", "module",
                                "arguments", "output (batch 1)");
  ParamStore scratch;
  BuiltNetwork built = build_network(model.spec(), scratch, {1, 3, imgsz, imgsz});
  for (const LayerSummary& layer : built.layers) {
    out += fmt::format("{:>4} {:>12} {:>3} {:>10}  {:<12} {:<34} {}\n", layer.index, from_text(layer.from),
                       layer.repeats, with_commas(layer.parameters), layer.module, layer.arguments, layer.output.str());
  }
  const ParamStore& params = model.params();
  std::size_t gradients = 0;
  for (const auto& e : params.entries()) gradients += is_trainable(e.role) ? e.numel : 0;
  out += fmt::format("{} summary: {} layers, {} parameters, {} gradients, {:.1f} GFLOPs at {}x{}\n", model.spec().name,
                     built.layers.size(), with_commas(params.parameter_count()), with_commas(gradients),
                     reference_gflops_of(*built.graph), imgsz, imgsz);
  return out;
}

}  // namespace shrike::model
