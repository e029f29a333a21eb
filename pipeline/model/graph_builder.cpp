// pipeline/model/graph_builder.cpp: op creation, output shapes, parameter declaration.
#include "pipeline/model/graph_builder.h"

#include <algorithm>
#include <cmath>

#include "pipeline/core/error.h"
#include "pipeline/model/graph_ops.h"

namespace shrike::model {

GraphBuilder::GraphBuilder(ParamStore& params, Shape4 input, GraphStorage storage)
    : GraphBuilder(params, input, storage, Graph::default_layout(storage)) {}

GraphBuilder::GraphBuilder(ParamStore& params, Shape4 input, GraphStorage storage, kernels::Layout layout)
    : params_(params), graph_(std::make_unique<Graph>(params, input, storage, layout)) {}

int GraphBuilder::append(std::unique_ptr<GraphOp> op, std::vector<int> inputs, std::vector<Shape4> output_shapes,
                         const std::string& module, std::vector<int>* outputs) {
  op->inputs = std::move(inputs);
  for (const Shape4& shape : output_shapes) op->outputs.push_back(graph_->add_tensor(shape));
  op->module = module;
  int first = op->outputs.front();
  if (outputs != nullptr) *outputs = op->outputs;
  graph_->add_op(std::move(op));
  return first;
}

int GraphBuilder::conv2d(int x, const std::string& name, int out_channels, int kernel, int stride, int padding,
                         int groups, bool bias) {
  kernels::ConvGeometry geometry;
  geometry.input = shape(x);
  geometry.out_channels = out_channels;
  geometry.kernel = kernel;
  geometry.stride = stride;
  geometry.padding = padding < 0 ? kernel / 2 : padding;
  geometry.groups = groups;
  geometry.bias = bias;
  if (geometry.input.c % groups != 0 || out_channels % groups != 0) {
    fail_user("{}: {} input and {} output channels are not divisible by groups={}", name, geometry.input.c,
              out_channels, groups);
  }
  const Shape4 out = geometry.output();
  if (out.h < 1 || out.w < 1) {
    fail_user("{}: the input {} is too small for a {}x{} stride-{} convolution; use a larger imgsz", name,
              geometry.input.str(), kernel, kernel, stride);
  }
  int weight = params_.declare(name + ".weight", {out_channels, geometry.input.c / groups, kernel, kernel},
                               TensorRole::kWeight);
  int bias_index = bias ? params_.declare(name + ".bias", {out_channels}, TensorRole::kBias) : -1;
  return append(std::make_unique<ConvOp>(geometry, graph_->layout(), weight, bias_index), {x}, {out}, name);
}

int GraphBuilder::batchnorm(int x, const std::string& name) {
  const std::int64_t c = channels(x);
  int weight = params_.declare(name + ".weight", {c}, TensorRole::kNormWeight);
  int bias = params_.declare(name + ".bias", {c}, TensorRole::kBias);
  int mean = params_.declare(name + ".running_mean", {c}, TensorRole::kRunningMean);
  int var = params_.declare(name + ".running_var", {c}, TensorRole::kRunningVar);
  int counter = params_.declare(name + ".num_batches_tracked", {}, TensorRole::kCounter);
  return append(std::make_unique<BatchNormOp>(shape(x), weight, bias, mean, var, counter), {x}, {shape(x)}, name);
}

int GraphBuilder::silu(int x, const std::string& module) {
  return append(std::make_unique<SiluOp>(), {x}, {shape(x)}, module);
}

int GraphBuilder::add(int a, int b, const std::string& module) {
  if (!(shape(a) == shape(b))) fail_internal("{}: add of {} and {}", module, shape(a).str(), shape(b).str());
  return append(std::make_unique<AddOp>(), {a, b}, {shape(a)}, module);
}

int GraphBuilder::concat(const std::vector<int>& xs, const std::string& module) {
  Shape4 out = shape(xs.front());
  out.c = 0;
  for (int x : xs) {
    const Shape4 s = shape(x);
    if (s.n != out.n || s.h != out.h || s.w != out.w) {
      fail_user("{}: cannot concatenate {} with {}: spatial sizes differ (check the layer's 'from' indices, or "
                "use an imgsz that is a multiple of 32)", module, shape(xs.front()).str(), s.str());
    }
    out.c += s.c;
  }
  return append(std::make_unique<ConcatOp>(), xs, {out}, module);
}

std::vector<int> GraphBuilder::split(int x, const std::vector<int>& channel_counts, const std::string& module) {
  std::vector<Shape4> shapes;
  int total = 0;
  for (int c : channel_counts) {
    Shape4 s = shape(x);
    s.c = c;
    shapes.push_back(s);
    total += c;
  }
  if (total != channels(x)) fail_internal("{}: split of {} channels into {}", module, channels(x), total);
  std::vector<int> outputs;
  append(std::make_unique<SplitOp>(), {x}, shapes, module, &outputs);
  return outputs;
}

int GraphBuilder::maxpool(int x, int kernel, int stride, int padding, const std::string& module) {
  kernels::PoolGeometry geometry;
  geometry.input = shape(x);
  geometry.kernel = kernel;
  geometry.stride = stride;
  geometry.padding = padding;
  return append(std::make_unique<MaxPoolOp>(geometry), {x}, {geometry.output()}, module);
}

int GraphBuilder::upsample(int x, int factor, const std::string& module) {
  Shape4 out = shape(x);
  out.h *= factor;
  out.w *= factor;
  return append(std::make_unique<UpsampleOp>(factor), {x}, {out}, module);
}

std::pair<int, int> GraphBuilder::attention(int qkv, int heads, int key_dim, int head_dim, const std::string& module) {
  kernels::AttentionGeometry geometry;
  const Shape4 in = shape(qkv);
  geometry.batch = in.n;
  geometry.heads = heads;
  geometry.key_dim = key_dim;
  geometry.head_dim = head_dim;
  geometry.h = in.h;
  geometry.w = in.w;
  geometry.scale = 1.0f / std::sqrt(static_cast<float>(key_dim));
  if (in.c != geometry.qkv_channels()) {
    fail_internal("{}: qkv has {} channels, expected {}", module, in.c, geometry.qkv_channels());
  }
  const Shape4 out{in.n, geometry.out_channels(), in.h, in.w};
  std::vector<int> outputs;
  append(std::make_unique<AttentionOp>(geometry), {qkv}, {out, out}, module, &outputs);
  return {outputs[0], outputs[1]};
}

int GraphBuilder::declare_frozen(const std::string& name, std::vector<std::int64_t> shape) {
  return params_.declare(name, std::move(shape), TensorRole::kFrozen);
}

std::unique_ptr<Graph> GraphBuilder::finish(std::vector<int> outputs) {
  if (graph_->layout() == kernels::Layout::kNHWC) {
    for (int& output : outputs) {
      std::string producer = "output";
      for (const auto& op : graph_->ops()) {
        if (std::find(op->outputs.begin(), op->outputs.end(), output) != op->outputs.end()) producer = op->module;
      }
      output = append(std::make_unique<ToNchwOp>(), {output}, {shape(output)}, producer);
    }
  }
  graph_->set_outputs(std::move(outputs));
  fuse_batchnorm_silu(*graph_);
  graph_->plan_gradients();
  params_.finalize();
  return std::move(graph_);
}

}  // namespace shrike::model
