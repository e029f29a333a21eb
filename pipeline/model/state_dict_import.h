// pipeline/model/state_dict_import.h
//
// `shrike import`: weights trained elsewhere (a state dict in safetensors or HDF5,
// for example converted from an Ultralytics .pt) into a shrike model, strictly:
//  - every tensor of the model must be in the file, and nothing else: a missing or
//    an extra tensor is a UserError naming it (and how many more there are);
//  - every shape must match, except where the class count differs: then the Detect
//    class branches' tensors whose shape depends on nc (cv3.*) start from the
//    reference's initialisation and everything else is kept; the report lists them;
//  - num_batches_tracked must be an integer tensor, everything else a float one.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/model/model.h"
#include "pipeline/model/weights_file.h"

namespace shrike::model {

struct ImportReport {
  std::size_t kept = 0;                    // tensors copied from the file
  std::vector<std::string> reinitialised;  // class-branch tensors left at their init
  int file_nc = 0;                         // the file's class count (from its class heads)
};

// The class count of a state dict, from the Detect class head's output conv
// (model.<i>.cv3.0.2.weight, shape (nc, c, 1, 1)); 0 when there is none.
int class_count_of(const StateDict& state);

// Copies `state` into `model` (already initialised) under the rules above.
ImportReport import_state_dict(Model& model, const StateDict& state, const std::string& source);

// Reads a state dict from FILE.safetensors or FILE.h5 (/model, or /ema of a training
// checkpoint); `info` receives what the file says about itself (metadata or
// attributes), fields it does not hold left empty / zero.
StateDict read_importable_state_dict(const std::filesystem::path& path, WeightsInfo* info);

// The model_yaml a weights file should record for `spec`: its name when it is a
// model shrike knows (configs/models), else the definition's text.
std::string recorded_model_yaml(const ModelSpec& spec);

}  // namespace shrike::model
