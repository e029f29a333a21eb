// pipeline/model/graph.h
//
// The network for one input shape: a static list of primitive ops (conv, batch norm,
// SiLU, add, concat, split, max pool, upsample, attention) built once from the model
// YAML by GraphBuilder, with every activation and its gradient allocated when the
// graph is built: a step allocates nothing. Backward runs the ops in reverse; where a
// tensor feeds several ops, the gradients arriving from each are summed (the first
// writes the gradient buffer, later ones go through a scratch buffer and are added).
// Composite modules (C2f, SPPF, Detect ...) only append ops, so backward is correct
// by construction. Parameters live in a ParamStore shared by graphs of other shapes.
//
// Layout: a CPU graph keeps its activations in NHWC order (kernels/layout.h), which
// oneDNN's convolutions use without reordering; a shapes-only graph describes NCHW
// tensors (the CUDA executor's). Either way the graph speaks NCHW at its edges:
// forward() takes an NCHW image, and the builder ends an NHWC graph with one to_nchw op
// per output, so outputs() and output_grad() are NCHW (what the loss and decode read).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/layout.h"
#include "kernels/tensor.h"
#include "pipeline/model/param_store.h"

namespace shrike::model {

using kernels::Shape4;

enum class Mode { kTrain, kEval };

// Where a graph keeps its activations: kHost allocates every value and the gradient
// arena at build time (the CPU engine, training); kInference places the values in one
// arena by their lifetimes in the forward pass (a value lives from its producer to its
// last consumer, so most share memory) and has no gradients: eval-mode forward passes
// only (validation, prediction), in a fraction of the memory; kShapesOnly allocates
// nothing, for executors that keep them elsewhere (the CUDA graph reads the ops, shapes
// and gradient plan).
enum class GraphStorage { kHost, kInference, kShapesOnly };

class Graph;

// One primitive op. Ops own their per-shape state (oneDNN plans, saved statistics).
class GraphOp {
 public:
  virtual ~GraphOp() = default;
  virtual const char* kind() const = 0;
  virtual void forward(Graph& graph, Mode mode) = 0;
  // Reads the gradients of `outputs`, writes those of `inputs` (through
  // Graph::grad_target / grad_commit) and accumulates parameter gradients.
  virtual void backward(Graph& graph) = 0;
  virtual double macs() const { return 0; }

  std::vector<int> inputs;
  std::vector<int> outputs;
  // Tensors this op also writes for a later op it absorbed (a batch norm that runs the
  // SiLU after it, graph_ops.h): their values are alive from this op's forward, their
  // gradients until this op's backward, which reads them.
  std::vector<int> fused_outputs;
  std::string module;  // the state-dict prefix of the op ("model.4.m.1.cv2.conv")
};

struct TensorSlot {
  Shape4 shape;
  std::vector<float> owned;  // kHost: this tensor's own buffer
  float* value = nullptr;    // owned.data(), or a place in the inference arena
  float* grad = nullptr;  // in the gradient arena (plan_gradients)
  bool grad_written = false;
  bool needs_grad = true;  // false for the input image
};

class Graph {
 public:
  Graph(ParamStore& params, Shape4 input_shape, GraphStorage storage = GraphStorage::kHost);
  Graph(ParamStore& params, Shape4 input_shape, GraphStorage storage, kernels::Layout layout);
  // NHWC for graphs that run on the CPU, NCHW for shapes-only ones.
  static kernels::Layout default_layout(GraphStorage storage);

  // Building (GraphBuilder).
  int add_tensor(Shape4 shape);
  void add_op(std::unique_ptr<GraphOp> op);
  void set_outputs(std::vector<int> outputs) { outputs_ = std::move(outputs); }
  // After the last op: places every gradient in one arena so that gradients whose
  // lifetimes in the backward pass do not overlap share memory.
  void plan_gradients();

  // Running.
  void forward(const float* image, Mode mode);  // image: input_shape, NCHW in 0..1
  // Backward from the gradients of the outputs, set with output_grad() beforehand.
  void backward();
  float* output_grad(int output_index);

  // For ops.
  ParamStore& params() { return params_; }
  Shape4 shape(int tensor) const { return tensors_[static_cast<std::size_t>(tensor)].shape; }
  float* value(int tensor) { return tensors_[static_cast<std::size_t>(tensor)].value; }
  const float* grad(int tensor) { return tensors_[static_cast<std::size_t>(tensor)].grad; }
  bool needs_grad(int tensor) const { return tensors_[static_cast<std::size_t>(tensor)].needs_grad; }
  // Where to write the gradient of `tensor`: its buffer if no other op has written it
  // in this backward pass, else a scratch buffer that grad_commit adds in. One target
  // at a time: commit it before asking for the next one (there is one scratch).
  float* grad_target(int tensor);
  void grad_commit(int tensor, float* written);
  // The same for a parameter's gradient (accumulated across micro-batches).
  float* param_grad_target(int param);
  void param_grad_commit(int param, float* written);

  // sync_bn: when set, training-mode BatchNorm uses the statistics of every rank.
  void set_batch_stats_reducer(const kernels::BatchStatsReducer* reducer) { bn_reducer_ = reducer; }
  const kernels::BatchStatsReducer* batch_stats_reducer() const { return bn_reducer_; }
  // Data parallelism: told the index of each parameter whose gradient a backward pass
  // has finished (each parameter feeds one op, so its commit is its last), to start
  // gradient buckets' all-reduce during the pass.
  void set_grad_ready_listener(const std::function<void(int)>* listener) { grad_ready_ = listener; }

  const std::vector<std::unique_ptr<GraphOp>>& ops() const { return ops_; }
  const std::vector<int>& outputs() const { return outputs_; }
  int input() const { return 0; }
  Shape4 input_shape() const { return shape(0); }
  std::size_t activation_bytes() const;  // values and the gradient arena
  // Marks the gradient of `tensor` as handled without writing it: an op whose backward an
  // earlier op does (fused_outputs) lets that op's backward run.
  void mark_grad_handled(int tensor) { tensors_[static_cast<std::size_t>(tensor)].grad_written = true; }
  // The gradient plan (plan_gradients): each tensor's offset in the arena, in elements.
  std::size_t grad_offset(int tensor) const { return grad_offsets_.at(static_cast<std::size_t>(tensor)); }
  std::size_t grad_arena_numel() const { return grad_arena_numel_; }
  std::size_t largest_tensor_numel() const { return largest_numel_; }
  GraphStorage storage() const { return storage_; }
  // The order of every activation between the input and the outputs (see above).
  kernels::Layout layout() const { return layout_; }
  int num_tensors() const { return static_cast<int>(tensors_.size()); }
  double macs() const;

 private:
  ParamStore& params_;
  GraphStorage storage_;
  kernels::Layout layout_;
  std::vector<TensorSlot> tensors_;
  std::vector<std::size_t> grad_offsets_;  // per tensor (0 for the input)
  std::size_t grad_arena_numel_ = 0;
  std::size_t largest_numel_ = 0;
  std::vector<std::unique_ptr<GraphOp>> ops_;
  std::vector<int> outputs_;
  // kInference: places every value in value_arena_ by forward-pass lifetime.
  void plan_inference_values();

  std::vector<float> grad_arena_;
  std::vector<float> value_arena_;  // kInference
  std::vector<float> scratch_;        // one gradient in flight (largest tensor)
  std::vector<float> param_scratch_;  // one parameter gradient in flight
  const kernels::BatchStatsReducer* bn_reducer_ = nullptr;
  const std::function<void(int)>* grad_ready_ = nullptr;
};

}  // namespace shrike::model
