// pipeline/model/model_spec.cpp: finding, parsing and checking model YAMLs.
#include "pipeline/model/model_spec.h"

#include <yaml-cpp/yaml.h>

#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "pipeline/core/config_dir.h"
#include "pipeline/core/error.h"

namespace shrike::model {

namespace fs = std::filesystem;

const std::vector<std::string>& supported_modules() {
  static const std::vector<std::string> modules{"Conv", "DWConv", "C2f", "C3", "C3k2", "SPPF", "C2PSA",
                                                "Concat", "nn.Upsample", "Detect"};
  return modules;
}

int ModelSpec::scaled_channels(int c2) const {
  if (c2 == nc) return c2;
  return static_cast<int>(std::ceil(std::min(c2, max_channels) * width / 8.0) * 8);
}

std::string ModelSpec::where(const LayerSpec& layer) const {
  return fmt::format("{} line {} (layer {}, {})", source, layer.line, layer.index, layer.module);
}

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  if (!in) fail_user("cannot read the model definition {}", path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// "yolov8n" -> ("yolov8", "n"); "yolo11x" -> ("yolo11", "x"); otherwise no scale.
std::pair<std::string, std::string> split_scale(const std::string& stem) {
  static const std::regex pattern(R"((yolov?\d+)([nslmx]))");
  std::smatch match;
  if (std::regex_match(stem, match, pattern)) return {match[1], match[2]};
  return {stem, ""};
}

ModuleArg parse_arg(const YAML::Node& node, int nc) {
  ModuleArg arg;
  if (node.IsNull()) return arg;
  const std::string text = node.as<std::string>();
  if (text == "nc") {
    arg.kind = ModuleArg::Kind::kNumber;
    arg.number = nc;
    return arg;
  }
  if (text == "None" || text == "null") return arg;
  if (text == "True" || text == "true" || text == "False" || text == "false") {
    arg.kind = ModuleArg::Kind::kBool;
    arg.boolean = text == "True" || text == "true";
    return arg;
  }
  try {
    std::size_t used = 0;
    double value = std::stod(text, &used);
    if (used == text.size()) {
      arg.kind = ModuleArg::Kind::kNumber;
      arg.number = value;
      return arg;
    }
  } catch (const std::exception&) {
  }
  arg.kind = ModuleArg::Kind::kString;
  arg.text = text;
  return arg;
}

void check_module(const ModelSpec& spec, const LayerSpec& layer) {
  const auto& known = supported_modules();
  if (std::find(known.begin(), known.end(), layer.module) == known.end()) {
    std::string list;
    for (const auto& m : known) list += (list.empty() ? "" : ", ") + m;
    fail_user("{}: unknown module '{}'. shrike builds: {}.", spec.where(layer), layer.module, list);
  }
}

LayerSpec parse_layer(const YAML::Node& node, int index, const ModelSpec& spec) {
  LayerSpec layer;
  layer.index = index;
  layer.line = node.Mark().line + 1;
  if (!node.IsSequence() || node.size() != 4) {
    fail_user("{} line {}: layer {} must be [from, repeats, module, args]", spec.source, layer.line, index);
  }
  layer.module = node[2].as<std::string>();
  const YAML::Node from = node[0];
  std::vector<int> raw;
  if (from.IsSequence()) {
    for (const auto& f : from) raw.push_back(f.as<int>());
  } else {
    raw.push_back(from.as<int>());
  }
  layer.from_written = raw;
  for (int f : raw) {
    int absolute = f < 0 ? index + f : f;
    if (absolute < -1 || absolute >= index) {
      fail_user("{}: 'from' index {} refers to layer {}, which does not come before layer {} (valid: -1 for the "
                "image, 0..{}, or negative offsets)", spec.where(layer), f, absolute, index, index - 1);
    }
    if (index == 0 && f != -1) fail_user("{}: the first layer must take the image (from: -1)", spec.where(layer));
    layer.from.push_back(absolute);
  }
  int repeats = node[1].as<int>();
  if (repeats < 1) fail_user("{}: repeats must be at least 1, got {}", spec.where(layer), repeats);
  layer.repeats = repeats > 1 ? std::max(static_cast<int>(std::lround(repeats * spec.depth)), 1) : repeats;
  if (node[3].IsSequence()) {
    for (const auto& a : node[3]) layer.args.push_back(parse_arg(a, spec.nc));
  }
  check_module(spec, layer);
  return layer;
}

}  // namespace

ModelSpec parse_model_spec(const std::string& yaml_text, const std::string& name, const std::string& source,
                           std::optional<int> nc) {
  ModelSpec spec;
  spec.source = source;
  spec.yaml_text = yaml_text;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& error) {
    fail_user("{} line {}: not valid YAML ({})", source, error.mark.line + 1, error.msg);
  }
  try {
    if (!root.IsMap() || !root["backbone"] || !root["head"]) {
      fail_user("{}: a model definition needs 'backbone' and 'head' layer lists", source);
    }
    spec.nc = nc.value_or(root["nc"] ? root["nc"].as<int>() : 80);
    if (spec.nc < 1) fail_user("{}: nc must be at least 1", source);
    auto [base, scale] = split_scale(name);
    spec.name = name;
    if (root["scales"]) {
      const YAML::Node scales = root["scales"];
      if (scale.empty()) scale = scales.begin()->first.as<std::string>();
      if (!scales[scale]) fail_user("{}: no scale '{}' in 'scales'", source, scale);
      spec.scale = scale;
      spec.depth = scales[scale][0].as<double>();
      spec.width = scales[scale][1].as<double>();
      spec.max_channels = scales[scale][2].as<int>();
      spec.name = base + scale;
    } else {
      spec.depth = root["depth_multiple"] ? root["depth_multiple"].as<double>() : 1.0;
      spec.width = root["width_multiple"] ? root["width_multiple"].as<double>() : 1.0;
    }
    int index = 0;
    for (const char* section : {"backbone", "head"}) {
      for (const auto& node : root[section]) spec.layers.push_back(parse_layer(node, index++, spec));
    }
  } catch (const YAML::Exception& error) {
    fail_user("{} line {}: {}", source, error.mark.line + 1, error.msg);
  }
  if (spec.layers.empty() || spec.layers.back().module != "Detect") {
    fail_user("{}: the last layer must be Detect", source);
  }
  return spec;
}

ModelSpec load_model_spec(const std::string& model, std::optional<int> nc) {
  fs::path path = model;
  std::string stem = path.stem().string();
  if (fs::exists(path)) return parse_model_spec(read_text(path), stem, path.string(), nc);
  auto [base, scale] = split_scale(stem);
  fs::path known = config_dir() / "models" / (base + ".yaml");
  if (path.extension() == ".yaml" && path.parent_path().empty() && fs::exists(known)) {
    return parse_model_spec(read_text(known), stem, known.string(), nc);
  }
  fail_user("model '{}' not found: it is neither a file nor a model shrike knows (yolov8n..x.yaml, yolo11n..x.yaml "
            "in {}/models)", model, config_dir().string());
}

}  // namespace shrike::model
