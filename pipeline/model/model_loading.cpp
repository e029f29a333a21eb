// pipeline/model/model_loading.cpp: YAML or weights file to a Model.
#include "pipeline/model/model_loading.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "pipeline/core/error.h"

namespace shrike::model {

namespace fs = std::filesystem;

bool is_weights_file(const fs::path& path) {
  const std::string extension = path.extension().string();
  return extension == ".h5" || extension == ".hdf5";
}

namespace {

// A checkpoint's model_yaml is a known name ("yolov8n.yaml") or the definition text.
ModelSpec spec_from_weights(const WeightsInfo& info, const fs::path& path) {
  const std::string& text = info.model_yaml;
  if (text.find('\n') == std::string::npos && text.size() < 256) return load_model_spec(text, info.nc);
  return parse_model_spec(text, path.stem().string(), path.string() + " (model_yaml)", info.nc);
}

}  // namespace

LoadedModel load_model(const std::string& model, std::optional<int> nc, std::optional<std::string> scale,
                       std::uint64_t init_seed) {
  LoadedModel loaded;
  if (is_weights_file(model)) {
    WeightsInfo info = read_weights_info(model);
    if (nc && *nc != info.nc) {
      fail_user("{} was trained for {} classes, not {}: import it with `shrike import` to change the class count",
                model, info.nc, *nc);
    }
    loaded.model = std::make_unique<Model>(spec_from_weights(info, model));
    load_state_dict(loaded.model->params(), read_state_dict(model, deployable_group(model)), model);
    loaded.weights = info;
    return loaded;
  }
  std::string name = model;
  if (scale) {
    fs::path path = model;
    std::string stem = path.stem().string();
    if (!stem.empty() && std::string("nslmx").find(stem.back()) != std::string::npos && stem.size() > 1 &&
        std::isdigit(static_cast<unsigned char>(stem[stem.size() - 2]))) {
      stem.pop_back();  // "yolov8n" + --scale s -> "yolov8s"
    }
    name = (path.parent_path() / (stem + *scale + ".yaml")).string();
    if (fs::exists(model) && !fs::exists(name)) {  // a user's file: keep it, pick the scale by name
      ModelSpec spec = parse_model_spec([&] {
        std::ifstream in(model);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
      }(), stem + *scale, model, nc);
      loaded.model = std::make_unique<Model>(std::move(spec));
      loaded.model->initialize(init_seed);
      return loaded;
    }
  }
  loaded.model = std::make_unique<Model>(load_model_spec(name, nc));
  loaded.model->initialize(init_seed);
  return loaded;
}

}  // namespace shrike::model
