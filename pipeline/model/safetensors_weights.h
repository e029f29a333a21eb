// pipeline/model/safetensors_weights.h
//
// A model's state dict as a safetensors file, the way PyTorch users hold weights:
// one tensor per Ultralytics state-dict name ("model.0.conv.weight", ...), in PyTorch
// layout (OIHW), float32 (F16 with `half`), num_batches_tracked as I64 scalars, so
// `model.load_state_dict(safetensors.torch.load_file(F))` loads it into the
// reference's DetectionModel by name. `__metadata__` (all strings):
//   format "pt"; task "detect"; nc "4"; names '["a", "b", ...]' (JSON);
//   model_yaml (a model name shrike knows, "yolov8n.yaml", or the definition's YAML
//   text, as in weights files); imgsz "640"; stride "[8, 16, 32]" (JSON);
//   producer "shrike <version> (git <commit>)".
// Reading goes to a StateDict (weights_file.h), the form `shrike import` checks.
#pragma once

#include "pipeline/model/param_store.h"
#include "pipeline/model/safetensors_file.h"
#include "pipeline/model/weights_file.h"

namespace shrike::model {

SafetensorsContent safetensors_from_params(const ParamStore& params, const WeightsInfo& info, bool half);

// Float tensors (any float dtype) to floats, integer tensors to counters. `source`
// names the file in messages.
StateDict state_dict_from_safetensors(const SafetensorsContent& content, const std::string& source);

// What the metadata says, where it says it: fields absent stay at their defaults
// (nc 0, names and model_yaml empty, imgsz 0). Malformed values are UserErrors.
WeightsInfo weights_info_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& source);

}  // namespace shrike::model
