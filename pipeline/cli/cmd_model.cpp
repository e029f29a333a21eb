// pipeline/cli/cmd_model.cpp: `shrike model info MODEL.yaml|WEIGHTS.h5`.
#include <fmt/core.h>

#include <filesystem>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/model/model_info.h"
#include "pipeline/model/model_loading.h"

namespace shrike::cli {

namespace po = boost::program_options;

namespace {

CommandSpec model_spec() {
  CommandSpec spec;
  spec.name = "model";
  spec.usage = "shrike model info MODEL.yaml|WEIGHTS.h5 [--scale n] [--nc K] [--imgsz S]";
  spec.description =
      "Print a model's layer table, parameter count and GFLOPs. MODEL is a model shrike\n"
      "knows (yolov8n.yaml ... yolov8x.yaml, yolo11n.yaml ... yolo11x.yaml), your own YAML in\n"
      "the Ultralytics layer-list format, or a weights/checkpoint file.";
  spec.options.add_options()
      ("action", po::value<std::string>()->required()->value_name("info"), "what to do (info)")
      ("model", po::value<std::string>()->required()->value_name("MODEL"), "model YAML or weights file")
      ("scale", po::value<std::string>()->value_name("n|s|m|l|x"), "scale of a YAML with several (default: from the name)")
      ("nc", po::value<int>()->value_name("K"), "number of classes (default: the YAML's or the weights')")
      ("imgsz", po::value<int>()->default_value(640)->value_name("S"), "image size for shapes and GFLOPs");
  spec.positional.add("action", 1).add("model", 1);
  spec.epilog = "Examples:\n  shrike model info yolov8n.yaml\n  shrike model info yolo11s.yaml --nc 4 --imgsz 320\n"
                "  shrike model info runs/coco/exp/weights/best.h5";
  return spec;
}

}  // namespace

int run_model(const Args& args) {
  CommandSpec spec = model_spec();
  auto values = parse_options(spec, args);
  if (!values) return 0;
  const po::variables_map& v = *values;
  if (v["action"].as<std::string>() != "info") {
    fail_user("shrike model: unknown action '{}'; the action is 'info'", v["action"].as<std::string>());
  }
  std::optional<int> nc;
  if (v.count("nc")) nc = v["nc"].as<int>();
  std::optional<std::string> scale;
  if (v.count("scale")) scale = v["scale"].as<std::string>();
  const int imgsz = v["imgsz"].as<int>();
  if (imgsz < 32 || imgsz % 32 != 0) fail_user("--imgsz {} must be a positive multiple of 32", imgsz);
  model::LoadedModel loaded = model::load_model(v["model"].as<std::string>(), nc, scale);
  fmt::print("{}", model::format_model_info(*loaded.model, imgsz));
  return 0;
}

}  // namespace shrike::cli
