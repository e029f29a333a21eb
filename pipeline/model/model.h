// pipeline/model/model.h
//
// A model: its definition (ModelSpec), its state (ParamStore) and graphs built on
// demand for each input shape (training uses one shape; rectangular validation
// batches use a few, kept in a small cache). initialize() gives a new model the
// reference's starting point: PyTorch's default conv init, BatchNorm at identity,
// Detect's bias init, and the fixed DFL weights 0..15.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>

#include "pipeline/model/network.h"
#include "pipeline/model/param_store.h"

namespace shrike::model {

class Model {
 public:
  explicit Model(ModelSpec spec);

  const ModelSpec& spec() const { return spec_; }
  ParamStore& params() { return params_; }
  const ParamStore& params() const { return params_; }
  int nc() const { return spec_.nc; }
  const std::vector<int>& strides() const { return strides_; }
  const std::vector<LayerSummary>& layers() const { return layers_; }

  // The graph for `input` (built and cached on first use). kInference graphs (eval-mode
  // forward passes only: validation, prediction) share activation memory by lifetime
  // and have no gradients.
  Graph& graph(Shape4 input, GraphStorage storage = GraphStorage::kHost);
  // Multiply-adds of one forward pass for a (1, 3, imgsz, imgsz) image.
  double macs(int imgsz);

  void initialize(std::uint64_t seed);

  // sync_bn across the ranks of a data-parallel job (every graph, also later ones).
  void set_batch_stats_reducer(kernels::BatchStatsReducer reducer);
  // Overlapped gradient all-reduce: called with each parameter whose gradient a
  // backward pass finished (every graph, also later ones).
  void set_grad_ready_listener(std::function<void(int)> listener);

 private:
  ModelSpec spec_;
  ParamStore params_;
  std::vector<int> strides_;
  std::vector<LayerSummary> layers_;
  struct CachedGraph {
    Shape4 shape;
    GraphStorage storage;
    std::unique_ptr<Graph> graph;
  };
  std::list<CachedGraph> graphs_;  // most recently used first
  std::optional<kernels::BatchStatsReducer> bn_reducer_;
  std::function<void(int)> grad_ready_;
};

}  // namespace shrike::model
