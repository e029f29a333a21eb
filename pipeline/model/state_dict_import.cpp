// pipeline/model/state_dict_import.cpp: strict name/shape matching of an external
// state dict, with the class-count exception (see state_dict_import.h).
#include "pipeline/model/state_dict_import.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "pipeline/core/config_dir.h"
#include "pipeline/core/error.h"
#include "pipeline/model/safetensors_weights.h"

namespace shrike::model {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kNamesShown = 5;

std::string listing(const std::vector<std::string>& names) {
  std::vector<std::string> shown(names.begin(),
                                 names.begin() + static_cast<std::ptrdiff_t>(std::min(names.size(), kNamesShown)));
  std::string text = fmt::format("{}", fmt::join(shown, ", "));
  if (names.size() > kNamesShown) text += fmt::format(" and {} more", names.size() - kNamesShown);
  return text;
}

bool is_class_branch(const std::string& name) { return name.find(".cv3.") != std::string::npos; }

void check_names(const ParamStore& params, const StateDict& state, const std::string& source,
                 const std::string& model_name) {
  std::vector<std::string> missing, extra;
  for (const TensorEntry& e : params.entries()) {
    if (!state.shapes.count(e.name)) missing.push_back(e.name);
  }
  for (const auto& [name, shape] : state.shapes) {
    if (params.find(name) < 0) extra.push_back(name);
  }
  if (!extra.empty()) {
    fail_user(
        "{}: tensor {} is not part of {} ({} unexpected tensor(s): {}). The weights belong to another "
        "architecture or scale: pass the matching --model (yolov8n.yaml ... yolo11x.yaml or your YAML).",
        source, extra.front(), model_name, extra.size(), listing(extra));
  }
  if (!missing.empty()) {
    fail_user(
        "{}: tensor {} is missing ({} of the model's {} tensors are: {}). The weights belong to another "
        "architecture or scale: pass the matching --model.",
        source, missing.front(), missing.size(), params.entries().size(), listing(missing));
  }
}

}  // namespace

int class_count_of(const StateDict& state) {
  for (const auto& [name, shape] : state.shapes) {
    if (name.find(".cv3.0.2.weight") != std::string::npos && !shape.empty()) return static_cast<int>(shape[0]);
  }
  return 0;
}

ImportReport import_state_dict(Model& model, const StateDict& state, const std::string& source) {
  ParamStore& params = model.params();
  check_names(params, state, source, model.spec().name);
  ImportReport report;
  report.file_nc = class_count_of(state);
  const bool class_change = report.file_nc != 0 && report.file_nc != model.nc();
  for (int i = 0; i < static_cast<int>(params.entries().size()); ++i) {
    const TensorEntry& e = params.entry(i);
    const std::vector<std::int64_t>& shape = state.shapes.at(e.name);
    if (shape != e.shape) {
      if (class_change && is_class_branch(e.name)) {
        report.reinitialised.push_back(e.name);
        continue;
      }
      fail_user("{}: tensor {} has shape [{}], {} expects [{}] ({})", source, e.name, fmt::join(shape, ", "),
                model.spec().name, fmt::join(e.shape, ", "),
                class_change ? "outside the class heads: another architecture or scale"
                             : "another architecture or scale: pass the matching --model");
    }
    if (e.role == TensorRole::kCounter) {
      auto values = state.counters.find(e.name);
      if (values == state.counters.end())
        fail_user("{}: tensor {} should hold integers (int64), it holds floats", source, e.name);
      *params.counter(i) = values->second.empty() ? 0 : values->second[0];
    } else {
      auto values = state.floats.find(e.name);
      if (values == state.floats.end())
        fail_user("{}: tensor {} should hold floats, it holds integers", source, e.name);
      std::copy(values->second.begin(), values->second.end(), params.value(i));
    }
    ++report.kept;
  }
  return report;
}

StateDict read_importable_state_dict(const fs::path& path, WeightsInfo* info) {
  const std::string extension = path.extension().string();
  const bool known = extension == ".safetensors" || extension == ".h5" || extension == ".hdf5";
  if (known && !fs::exists(path)) fail_user("{} does not exist", path.string());
  if (extension == ".safetensors") {
    const SafetensorsContent content = read_safetensors(path);
    *info = weights_info_from_metadata(content.metadata, path.string());
    return state_dict_from_safetensors(content, path.string());
  }
  if (extension == ".h5" || extension == ".hdf5") {
    const std::string group = deployable_group(path);
    *info = WeightsInfo{};
    info->nc = 0;
    info->imgsz = 0;
    StateDict state = read_state_dict(path, group);  // names the file when /model is absent
    try {
      WeightsInfo attributes = read_weights_info(path);
      *info = attributes;
    } catch (const UserError&) {
      // A bare state dict (no model_yaml attribute): the caller's --model decides.
    }
    return state;
  }
  fail_user(
      "{}: import reads .safetensors files and HDF5 state dicts (.h5, group /model); for a PyTorch .pt "
      "file, convert it to safetensors first (README: Export and deployment)",
      path.string());
}

std::string recorded_model_yaml(const ModelSpec& spec) {
  if (fs::path(spec.source).parent_path() == config_dir() / "models") return spec.name + ".yaml";
  return spec.yaml_text;
}

}  // namespace shrike::model
