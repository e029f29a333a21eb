// pipeline/model/model_spec.h
//
// Model definitions in the Ultralytics layer-list format (configs/models/*.yaml):
// `nc`, `scales: {n: [depth, width, max_channels], ...}`, `backbone` and `head` lists
// of [from, repeats, module, args]. A model is named as users of that trainer name
// it: "yolov8n.yaml" is scale n of yolov8.yaml; a path to a user's own YAML works too.
// Loading resolves the scale (repeats and channel rules are applied when the graph
// is built, where input channels are known) and checks every layer: an unknown
// module or a bad `from` index is an error naming the file, line and layer.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace shrike::model {

// One YAML argument, as written (after 'nc' substitution).
struct ModuleArg {
  enum class Kind { kNumber, kBool, kNull, kString } kind = Kind::kNull;
  double number = 0;
  bool boolean = false;
  std::string text;
};

struct LayerSpec {
  int index = 0;
  std::vector<int> from;          // absolute layer indices (-1 is the model input)
  std::vector<int> from_written;  // as the YAML writes them (-1 = the previous layer)
  int repeats = 1;        // after the depth multiple
  std::string module;     // "Conv", "C2f", "nn.Upsample", ...
  std::vector<ModuleArg> args;
  int line = 0;           // in the YAML file
};

struct ModelSpec {
  std::string name;       // "yolov8n"
  std::string source;     // where it was read from
  std::string yaml_text;  // the definition, stored with checkpoints
  std::string scale;      // "n"
  double depth = 1.0, width = 1.0;
  int max_channels = 1 << 30;
  int nc = 80;
  std::vector<LayerSpec> layers;

  // The channel rule: c2 = ceil(min(c2, max_channels) * width / 8) * 8, unless c2 == nc.
  int scaled_channels(int c2) const;
  std::string where(const LayerSpec& layer) const;  // "yolov8.yaml line 14 (layer 5, C2f)"
};

// Modules shrike can build.
const std::vector<std::string>& supported_modules();

// `model`: a YAML path, or a name such as "yolov8n.yaml" / "yolo11s.yaml" found in
// the configs folder. `nc` overrides the file's class count.
ModelSpec load_model_spec(const std::string& model, std::optional<int> nc = std::nullopt);
// The same from YAML text (a checkpoint's model_yaml attribute); `name` picks the scale.
ModelSpec parse_model_spec(const std::string& yaml_text, const std::string& name, const std::string& source,
                           std::optional<int> nc = std::nullopt);

}  // namespace shrike::model
