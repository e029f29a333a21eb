// pipeline/model/graph_builder.h
//
// Appends primitive ops to a Graph and declares their parameters in the ParamStore
// under Ultralytics state-dict names. Modules (modules.h) are written against this
// API only, so a module is a function, and backward comes from the ops it appends.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pipeline/model/graph.h"

namespace shrike::model {

class GraphBuilder {
 public:
  GraphBuilder(ParamStore& params, Shape4 input, GraphStorage storage = GraphStorage::kHost);
  GraphBuilder(ParamStore& params, Shape4 input, GraphStorage storage, kernels::Layout layout);

  int input() const { return 0; }
  Shape4 shape(int tensor) const { return graph_->shape(tensor); }
  int channels(int tensor) const { return shape(tensor).c; }

  // nn.Conv2d at `name` ("model.0.conv"): declares name.weight (and name.bias).
  // padding -1 means k / 2. A frozen conv's weight never trains (DFL).
  int conv2d(int x, const std::string& name, int out_channels, int kernel, int stride = 1, int padding = -1,
             int groups = 1, bool bias = false);
  // nn.BatchNorm2d at `name` ("model.0.bn").
  int batchnorm(int x, const std::string& name);
  int silu(int x, const std::string& module);
  int add(int a, int b, const std::string& module);
  int concat(const std::vector<int>& xs, const std::string& module);
  std::vector<int> split(int x, const std::vector<int>& channels, const std::string& module);
  int maxpool(int x, int kernel, int stride, int padding, const std::string& module);
  int upsample(int x, int factor, const std::string& module);
  // Attention core on a qkv tensor; returns {out, v_image}.
  std::pair<int, int> attention(int qkv, int heads, int key_dim, int head_dim, const std::string& module);
  // Declares a parameter that no op uses in training (the frozen DFL conv weight).
  int declare_frozen(const std::string& name, std::vector<std::int64_t> shape);

  ParamStore& params() { return params_; }
  // Ends the graph; in an NHWC graph each output first goes through a to_nchw op.
  std::unique_ptr<Graph> finish(std::vector<int> outputs);

 private:
  int append(std::unique_ptr<GraphOp> op, std::vector<int> inputs, std::vector<Shape4> output_shapes,
             const std::string& module, std::vector<int>* outputs = nullptr);

  ParamStore& params_;
  std::unique_ptr<Graph> graph_;
};

}  // namespace shrike::model
