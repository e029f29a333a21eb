// pipeline/model/safetensors_weights.cpp: state dicts to and from safetensors content.
#include "pipeline/model/safetensors_weights.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "build_info.h"
#include "pipeline/core/error.h"

namespace shrike::model {

SafetensorsContent safetensors_from_params(const ParamStore& params, const WeightsInfo& info, bool half) {
  SafetensorsContent content;
  for (const TensorEntry& e : params.entries()) {
    if (e.role == TensorRole::kCounter) {
      content.tensors[e.name] = int64_tensor(e.shape, params.counters().subspan(e.offset, e.numel));
    } else {
      content.tensors[e.name] = float_tensor(e.shape, params.float_state().subspan(e.offset, e.numel), half);
    }
  }
  content.metadata = {
      {"format", "pt"},
      {"task", "detect"},
      {"nc", std::to_string(info.nc)},
      {"names", nlohmann::json(info.names).dump()},
      {"model_yaml", info.model_yaml},
      {"imgsz", std::to_string(info.imgsz)},
      {"stride", nlohmann::json(info.stride).dump()},
      {"producer", fmt::format("shrike {} (git {})", kVersion, kGitCommit)},
  };
  return content;
}

StateDict state_dict_from_safetensors(const SafetensorsContent& content, const std::string& source) {
  StateDict state;
  for (const auto& [name, tensor] : content.tensors) {
    const std::string what = fmt::format("{}: tensor {}", source, name);
    state.shapes[name] = tensor.shape;
    if (is_float_dtype(tensor.dtype)) {
      state.floats[name] = tensor_floats(tensor, what);
    } else {
      state.counters[name] = tensor_integers(tensor, what);
    }
  }
  return state;
}

namespace {

int metadata_int(const std::string& value, const std::string& key, const std::string& source) {
  try {
    std::size_t used = 0;
    const int parsed = std::stoi(value, &used);
    if (used == value.size()) return parsed;
  } catch (const std::exception&) {
  }
  fail_user("{}: __metadata__ '{}' is '{}', not an integer", source, key, value);
}

}  // namespace

WeightsInfo weights_info_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& source) {
  WeightsInfo info;
  info.nc = 0;
  info.imgsz = 0;
  auto find = [&](const char* key) -> const std::string* {
    auto it = metadata.find(key);
    return it == metadata.end() ? nullptr : &it->second;
  };
  if (const std::string* nc = find("nc")) info.nc = metadata_int(*nc, "nc", source);
  if (const std::string* imgsz = find("imgsz")) info.imgsz = metadata_int(*imgsz, "imgsz", source);
  if (const std::string* yaml = find("model_yaml")) info.model_yaml = *yaml;
  if (const std::string* names = find("names")) {
    try {
      info.names = nlohmann::json::parse(*names).get<std::vector<std::string>>();
    } catch (const std::exception&) {
      fail_user("{}: __metadata__ 'names' is not a JSON list of strings: {}", source, names->substr(0, 80));
    }
  }
  if (const std::string* stride = find("stride")) {
    try {
      info.stride = nlohmann::json::parse(*stride).get<std::vector<int>>();
    } catch (const std::exception&) {
      fail_user("{}: __metadata__ 'stride' is not a JSON list of integers: {}", source, stride->substr(0, 80));
    }
  }
  return info;
}

}  // namespace shrike::model
