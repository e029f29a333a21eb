// pipeline/model/model.cpp: graph cache and initialisation.
#include "pipeline/model/model.h"

#include "pipeline/core/error.h"

#include <cmath>
#include <map>

#include "pipeline/core/random.h"
#include "pipeline/model/modules.h"

namespace shrike::model {

namespace {
constexpr std::size_t kCachedGraphs = 4;
constexpr int kProbeSize = 64;  // declares every parameter cheaply
}  // namespace

Model::Model(ModelSpec spec) : spec_(std::move(spec)) {
  BuiltNetwork built = build_network(spec_, params_, {1, 3, kProbeSize, kProbeSize});
  strides_ = built.strides;
  layers_ = built.layers;
  graphs_.push_front({built.graph->input_shape(), GraphStorage::kHost, std::move(built.graph)});
}

Graph& Model::graph(Shape4 input, GraphStorage storage) {
  if (storage == GraphStorage::kShapesOnly) fail_internal("Model::graph: a shapes-only graph is built with build_network");
  for (auto it = graphs_.begin(); it != graphs_.end(); ++it) {
    if (it->shape == input && it->storage == storage) {
      graphs_.splice(graphs_.begin(), graphs_, it);
      return *graphs_.front().graph;
    }
  }
  BuiltNetwork built = build_network(spec_, params_, input, storage);
  if (bn_reducer_) built.graph->set_batch_stats_reducer(&*bn_reducer_);
  built.graph->set_grad_ready_listener(&grad_ready_);
  graphs_.push_front({input, storage, std::move(built.graph)});
  if (graphs_.size() > kCachedGraphs) graphs_.pop_back();
  return *graphs_.front().graph;
}

void Model::set_batch_stats_reducer(kernels::BatchStatsReducer reducer) {
  bn_reducer_ = std::move(reducer);
  for (auto& cached : graphs_) cached.graph->set_batch_stats_reducer(&*bn_reducer_);
}

void Model::set_grad_ready_listener(std::function<void(int)> listener) { grad_ready_ = std::move(listener); }

double Model::macs(int imgsz) {
  ParamStore scratch;  // building a graph only to count: do not disturb the cache
  BuiltNetwork built = build_network(spec_, scratch, {1, 3, imgsz, imgsz});
  return built.graph->macs();
}

void Model::initialize(std::uint64_t seed) {
  SplitMix64 rng(seed);
  auto uniform = [&](float bound) { return static_cast<float>((2.0 * rng.uniform() - 1.0) * bound); };
  // Convolutions first (PyTorch's kaiming_uniform(a=sqrt(5)): bound 1/sqrt(fan_in)),
  // remembering each conv's fan-in for its bias.
  std::map<std::string, double> fan_in;
  for (int i = 0; i < static_cast<int>(params_.entries().size()); ++i) {
    const TensorEntry& e = params_.entry(i);
    float* v = params_.value(i);
    if (e.role == TensorRole::kWeight) {
      const double fan = static_cast<double>(e.numel) / static_cast<double>(e.shape[0]);
      fan_in[e.name.substr(0, e.name.size() - 7)] = fan;  // strip ".weight"
      const float bound = static_cast<float>(1.0 / std::sqrt(fan));
      for (std::size_t k = 0; k < e.numel; ++k) v[k] = uniform(bound);
    }
  }
  for (int i = 0; i < static_cast<int>(params_.entries().size()); ++i) {
    const TensorEntry& e = params_.entry(i);
    float* v = params_.value(i);
    const std::string owner = e.name.substr(0, e.name.rfind('.'));
    switch (e.role) {
      case TensorRole::kWeight: break;
      case TensorRole::kBias:
        if (fan_in.count(owner)) {  // a conv bias
          const float bound = static_cast<float>(1.0 / std::sqrt(fan_in[owner]));
          for (std::size_t k = 0; k < e.numel; ++k) v[k] = uniform(bound);
        } else {
          std::fill(v, v + e.numel, 0.0f);  // BatchNorm bias
        }
        break;
      case TensorRole::kNormWeight:
      case TensorRole::kRunningVar: std::fill(v, v + e.numel, 1.0f); break;
      case TensorRole::kRunningMean: std::fill(v, v + e.numel, 0.0f); break;
      case TensorRole::kFrozen:
        for (std::size_t k = 0; k < e.numel; ++k) v[k] = static_cast<float>(k);  // DFL: 0..reg_max-1
        break;
      case TensorRole::kCounter: *params_.counter(i) = 0; break;
    }
  }
  // Detect.bias_init: box bias 1.0, class bias log(5 / nc / (640 / stride)^2).
  const std::string detect = "model." + std::to_string(spec_.layers.back().index);
  for (std::size_t level = 0; level < strides_.size(); ++level) {
    int box = params_.find(detect + ".cv2." + std::to_string(level) + ".2.bias");
    int cls = params_.find(detect + ".cv3." + std::to_string(level) + ".2.bias");
    if (box >= 0) std::fill(params_.value(box), params_.value(box) + params_.entry(box).numel, 1.0f);
    if (cls >= 0) {
      const double s = strides_[level];
      std::fill(params_.value(cls), params_.value(cls) + params_.entry(cls).numel,
                static_cast<float>(std::log(5.0 / spec_.nc / ((640.0 / s) * (640.0 / s)))));
    }
  }
}

}  // namespace shrike::model
