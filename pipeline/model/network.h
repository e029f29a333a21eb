// pipeline/model/network.h
//
// From a ModelSpec to a Graph for one input shape: each YAML layer becomes its
// module's ops (modules.h) with the reference's channel and repeat rules applied
// (parse_model in the reference's tasks.py); the outputs are Detect's three raw maps.
// Also what `shrike model info` prints: one summary line per layer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pipeline/model/graph.h"
#include "pipeline/model/model_spec.h"

namespace shrike::model {

struct LayerSummary {
  int index = 0;
  std::vector<int> from;  // as written in the YAML
  int repeats = 1;
  std::string module;
  std::string arguments;  // resolved, e.g. "[64, 128, 3, True]"
  std::size_t parameters = 0;
  Shape4 output;
};

struct BuiltNetwork {
  std::unique_ptr<Graph> graph;
  std::vector<LayerSummary> layers;
  std::vector<int> strides;  // of the Detect levels, e.g. {8, 16, 32}
};

BuiltNetwork build_network(const ModelSpec& spec, ParamStore& params, Shape4 input,
                           GraphStorage storage = GraphStorage::kHost);
// The same with the activations' layout chosen (tests compare the two).
BuiltNetwork build_network(const ModelSpec& spec, ParamStore& params, Shape4 input, GraphStorage storage,
                           kernels::Layout layout);

}  // namespace shrike::model
