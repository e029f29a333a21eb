// pipeline/cli/cmd_export.cpp: `shrike export WEIGHTS --format onnx|safetensors`:
// a trained model (a checkpoint's EMA weights) to an ONNX file for deployment
// (pipeline/model/onnx_export.h) or to a safetensors state dict for PyTorch
// (pipeline/model/safetensors_weights.h).
#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/model/onnx_export.h"
#include "pipeline/model/safetensors_weights.h"
#include "pipeline/model/state_dict_import.h"
#include "pipeline/train/predictor.h"

namespace shrike::cli {

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

CommandSpec export_spec() {
  CommandSpec spec;
  spec.name = "export";
  spec.usage = "shrike export WEIGHTS --format onnx|safetensors [--imgsz S|H,W] [--dynamic] [--opset 17] [--half] "
               "[--out FILE]";
  spec.description =
      "Export a weights or checkpoint file (a checkpoint's EMA weights, as the reference deploys).\n\n"
      "onnx: the network with BatchNorm folded into the convolutions and the Detect decode, in\n"
      "the layout of the reference trainer's ONNX export, so deployment code written for it\n"
      "reads it unchanged: input 'images' (1, 3, H, W) float32 RGB in 0..1, output 'output0'\n"
      "(1, 4 + nc, anchors): cx, cy, w, h in input pixels and the sigmoid class scores (no\n"
      "NMS). Metadata: names, stride, imgsz, task, args, date, version. The model passes\n"
      "onnx::checker before it is written. --dynamic makes batch, height and width symbolic\n"
      "(multiples of 32 at run time). --half stores weights, input and output as float16, as\n"
      "the reference's half export does (meant for GPU runtimes).\n\n"
      "safetensors: every state-dict tensor under its Ultralytics name, PyTorch layout,\n"
      "float32 (float16 with --half), with nc, names, model_yaml and imgsz in the metadata:\n"
      "model.load_state_dict(safetensors.torch.load_file(F)) loads it into the reference model.";
  spec.options.add_options()
      ("weights", po::value<std::string>()->required()->value_name("WEIGHTS"),
       "weights or checkpoint file (positional); a model YAML exports a randomly initialised model")
      ("format,f", po::value<std::string>()->required()->value_name("onnx|safetensors"), "what to write")
      ("imgsz", po::value<std::string>()->value_name("S|H,W"),
       "input size (onnx; default: the weights' imgsz), rounded up to a multiple of 32")
      ("dynamic", po::bool_switch(), "onnx: symbolic batch, height and width")
      ("opset", po::value<int>()->default_value(17)->value_name("N"), "onnx: opset version, 13 to 17")
      ("half", po::bool_switch(), "float16 weights (and onnx input/output)")
      ("out,o", po::value<std::string>()->value_name("FILE"),
       "output file (default: WEIGHTS with the extension .onnx or .safetensors)");
  spec.positional.add("weights", 1);
  spec.epilog =
      "Examples:\n"
      "  shrike export runs/coco/exp/weights/best.h5 --format onnx\n"
      "  shrike export best.h5 --format onnx --imgsz 320 --dynamic --out best-dynamic.onnx\n"
      "  shrike export best.h5 --format safetensors --half\n"
      "Deployment from ONNX (TensorRT, OpenVINO, TFLite, ...): README, 'Export and deployment'.";
  return spec;
}

// "640" -> 640x640; "480,640" -> height 480, width 640.
std::pair<int, int> parse_imgsz(const std::string& text) {
  int h = 0, w = 0;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%d,%d%c", &h, &w, &extra) == 2 && h > 0 && w > 0) return {h, w};
  if (std::sscanf(text.c_str(), "%d%c", &h, &extra) == 1 && h > 0) return {h, h};
  fail_user("--imgsz '{}' is not a size: use S (square) or H,W, e.g. --imgsz 640 or --imgsz 384,640", text);
}

fs::path default_output(const std::string& weights, const std::string& extension) {
  fs::path path(weights);
  if (model::is_weights_file(path)) return fs::path(path).replace_extension(extension);
  return fs::path(path.stem().string() + extension);  // a YAML: into the current folder
}

std::string source_label(const std::string& weights, const model::LoadedModel& loaded) {
  if (!loaded.weights) return fmt::format("{} (randomly initialised, no weights)", weights);
  return fmt::format("{}{}", weights, model::deployable_group(weights) == "/ema" ? " (EMA weights)" : "");
}

int export_onnx(const po::variables_map& v, model::LoadedModel& loaded, const std::vector<std::string>& names,
                const fs::path& out) {
  model::Model& m = *loaded.model;
  const int stride = *std::max_element(m.strides().begin(), m.strides().end());
  const int default_size = loaded.weights ? loaded.weights->imgsz : 640;
  auto [h, w] = v.count("imgsz") ? parse_imgsz(v["imgsz"].as<std::string>()) : std::pair{default_size, default_size};
  auto warn = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
  model::OnnxExportOptions options;
  options.height = train::imgsz_for_stride(h, stride, warn);
  options.width = train::imgsz_for_stride(w, stride, warn);
  options.dynamic = v["dynamic"].as<bool>();
  options.half = v["half"].as<bool>();
  options.opset = v["opset"].as<int>();
  const model::OnnxExportSummary summary = model::export_onnx(m, names, options, out);
  const char* type = options.half ? "float16" : "float32";
  fmt::print("exported {} to {}: ONNX opset {} (IR {}), {} nodes, {} BatchNorms folded, {:.1f} MB; checked by "
             "onnx::checker\n  input  images  ({}, 3, {}, {}) {}\n  output output0 ({}, {}, {}) {}\n",
             source_label(v["weights"].as<std::string>(), loaded), out.string(), options.opset,
             options.opset <= 14 ? 7 : 8, summary.nodes, summary.folded_batchnorms, summary.bytes / 1e6,
             options.dynamic ? "batch" : "1", options.dynamic ? "height" : std::to_string(options.height),
             options.dynamic ? "width" : std::to_string(options.width), type, summary.output_dims[0],
             summary.output_dims[1], summary.output_dims[2], type);
  return 0;
}

int export_safetensors(const po::variables_map& v, model::LoadedModel& loaded, const std::vector<std::string>& names,
                       const fs::path& out) {
  for (const char* onnx_only : {"dynamic"}) {
    if (v[onnx_only].as<bool>()) fail_user("--{} applies to --format onnx only", onnx_only);
  }
  if (!v["opset"].defaulted()) fail_user("--opset applies to --format onnx only");
  model::WeightsInfo info;
  info.nc = loaded.model->nc();
  info.names = names;
  info.model_yaml = loaded.weights ? loaded.weights->model_yaml : model::recorded_model_yaml(loaded.model->spec());
  info.imgsz = v.count("imgsz") ? parse_imgsz(v["imgsz"].as<std::string>()).first
                                : (loaded.weights ? loaded.weights->imgsz : 640);
  info.stride = loaded.model->strides();
  const bool half = v["half"].as<bool>();
  model::write_safetensors(out, model::safetensors_from_params(loaded.model->params(), info, half));
  fmt::print("exported {} to {}: {} tensors ({}), {} classes\n", source_label(v["weights"].as<std::string>(), loaded),
             out.string(), loaded.model->params().entries().size(), half ? "float16" : "float32", info.nc);
  return 0;
}

}  // namespace

int run_export(const Args& args) {
  CommandSpec spec = export_spec();
  auto values = parse_options(spec, args);
  if (!values) return 0;
  const po::variables_map& v = *values;
  const std::string format = v["format"].as<std::string>();
  if (format != "onnx" && format != "safetensors") {
    fail_user("--format '{}' is not one shrike writes: use onnx or safetensors (for TensorRT, OpenVINO, CoreML, "
              "TFLite ... convert the ONNX file: README, 'Export and deployment')", format);
  }
  const std::string weights = v["weights"].as<std::string>();
  if (model::is_weights_file(weights) && !fs::exists(weights)) fail_user("{} does not exist", weights);
  model::LoadedModel loaded = model::load_model(weights);
  std::vector<std::string> names;
  if (loaded.weights) names = loaded.weights->names;
  for (int i = static_cast<int>(names.size()); i < loaded.model->nc(); ++i) names.push_back(fmt::format("class{}", i));
  names.resize(static_cast<std::size_t>(loaded.model->nc()));
  const fs::path out = v.count("out") ? fs::path(v["out"].as<std::string>())
                                      : default_output(weights, format == "onnx" ? ".onnx" : ".safetensors");
  if (fs::exists(out) && fs::equivalent(out, weights)) fail_user("--out {} would overwrite the weights", out.string());
  return format == "onnx" ? export_onnx(v, loaded, names, out) : export_safetensors(v, loaded, names, out);
}

}  // namespace shrike::cli
