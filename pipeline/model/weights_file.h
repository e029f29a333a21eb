// pipeline/model/weights_file.h
//
// Weights and checkpoint files (DESIGN.md § File contracts): HDF5 with group `/model`
// holding one dataset per state-dict tensor, named as the Ultralytics state dict
// names it, in PyTorch layout; float32 (float16 accepted on read), int64 for
// num_batches_tracked. Root attributes: nc, names (JSON list), model_yaml (a model
// name shrike knows, or the definition's text), imgsz, stride. Training checkpoints
// add groups (/ema, /optimizer) and attributes through the same helpers.
// Files are written to a temporary name, fsynced and renamed: a kill at any instant
// leaves the previous file intact.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pipeline/model/param_store.h"

namespace shrike::model {

// What a weights file says about its model.
struct WeightsInfo {
  int nc = 0;
  std::vector<std::string> names;
  std::string model_yaml;  // name ("yolov8n.yaml") or YAML text
  int imgsz = 640;
  std::vector<int> stride;
};

// A state dict read from a file: float tensors (converted to float32) and counters.
struct StateDict {
  std::map<std::string, std::vector<float>> floats;
  std::map<std::string, std::vector<std::int64_t>> counters;
  std::map<std::string, std::vector<std::int64_t>> shapes;
};

// Reads the attributes; nc falls back to the class-head shapes when absent.
WeightsInfo read_weights_info(const std::filesystem::path& path);
// Reads a group (default /model) of a weights or checkpoint file.
StateDict read_state_dict(const std::filesystem::path& path, const std::string& group = "/model");

// Copies `state` into `params`. Every tensor of `params` must be present with the same
// shape: otherwise a UserError names the first mismatching tensor (and what differs:
// another architecture, another class count).
void load_state_dict(ParamStore& params, const StateDict& state, const std::string& source);
// The same check without copying (for state that goes elsewhere, as an EMA copy).
void check_state_dict(const ParamStore& params, const StateDict& state, const std::string& source);

// Writes /model (params' current values) and the attributes, atomically.
void write_weights(const std::filesystem::path& path, const ParamStore& params, const WeightsInfo& info);

// Building blocks for checkpoints (train/checkpoint.h), on an open HDF5 file:
// a state-dict group from float state and counters in `layout`'s order (the model's
// own, or an EMA copy of it), the weights attributes, and whether a group exists.
void write_state_group(std::int64_t file, const std::string& group, const ParamStore& layout,
                       std::span<const float> floats, std::span<const std::int64_t> counters, const std::string& where);
void write_weights_attributes(std::int64_t file, const WeightsInfo& info, const std::string& where);
bool file_has_group(const std::filesystem::path& path, const std::string& group);

// The group a model is loaded from: "/ema" in a training checkpoint (validation,
// export and prediction use the EMA weights, as the reference does), else "/model".
std::string deployable_group(const std::filesystem::path& path);

}  // namespace shrike::model
