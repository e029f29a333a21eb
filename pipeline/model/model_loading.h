// pipeline/model/model_loading.h
//
// One way in for every command that takes a model: a model YAML (a new model,
// initialised as the reference initialises it) or a weights/checkpoint file (the
// architecture from its `model_yaml` attribute, nc from `nc` or the class-head
// shapes, then its weights).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "pipeline/model/model.h"
#include "pipeline/model/weights_file.h"

namespace shrike::model {

struct LoadedModel {
  std::unique_ptr<Model> model;
  std::optional<WeightsInfo> weights;  // set when loaded from a weights file
};

bool is_weights_file(const std::filesystem::path& path);

// `model`: YAML path or known name, or an .h5 weights file. `nc` overrides the class
// count of a YAML (for a weights file it must agree); `scale` picks a scale of a YAML.
LoadedModel load_model(const std::string& model, std::optional<int> nc = std::nullopt,
                       std::optional<std::string> scale = std::nullopt, std::uint64_t init_seed = 0);

}  // namespace shrike::model
