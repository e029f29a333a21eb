// pipeline/model/graph.cpp: tensor allocation, forward and backward over the op list,
// and the gradient fan-in rule.
#include "pipeline/model/graph.h"

#include <algorithm>
#include <cstring>

#include "kernels/elementwise.h"
#include "pipeline/core/error.h"

namespace shrike::model {

Graph::Graph(ParamStore& params, Shape4 input_shape, GraphStorage storage)
    : Graph(params, input_shape, storage, default_layout(storage)) {}

Graph::Graph(ParamStore& params, Shape4 input_shape, GraphStorage storage, kernels::Layout layout)
    : params_(params), storage_(storage), layout_(layout) {
  add_tensor(input_shape);
  tensors_[0].needs_grad = false;
}

kernels::Layout Graph::default_layout(GraphStorage storage) {
  return storage == GraphStorage::kShapesOnly ? kernels::Layout::kNCHW : kernels::Layout::kNHWC;
}

int Graph::add_tensor(Shape4 shape) {
  TensorSlot slot;
  slot.shape = shape;
  if (storage_ == GraphStorage::kHost) {
    slot.owned.assign(shape.numel(), 0.0f);
    slot.value = slot.owned.data();
  }
  tensors_.push_back(std::move(slot));
  largest_numel_ = std::max(largest_numel_, shape.numel());
  if (storage_ == GraphStorage::kHost && shape.numel() > scratch_.size()) scratch_.resize(shape.numel());
  return static_cast<int>(tensors_.size() - 1);
}

void Graph::add_op(std::unique_ptr<GraphOp> op) { ops_.push_back(std::move(op)); }

void Graph::forward(const float* image, Mode mode) {
  if (storage_ == GraphStorage::kShapesOnly) fail_internal("Graph::forward on a shapes-only graph");
  if (storage_ == GraphStorage::kInference && mode != Mode::kEval) {
    fail_internal("a training-mode forward pass on an inference graph (it keeps no activations for backward)");
  }
  if (!params_.finalized()) fail_internal("Graph::forward before the parameters were laid out");
  if (layout_ == kernels::Layout::kNHWC) {
    kernels::nchw_to_nhwc_cpu(tensors_[0].value, image, tensors_[0].shape);
  } else {
    std::memcpy(tensors_[0].value, image, tensors_[0].shape.numel() * sizeof(float));
  }
  for (auto& op : ops_) op->forward(*this, mode);
}

float* Graph::output_grad(int output_index) {
  if (storage_ != GraphStorage::kHost) fail_internal("Graph::output_grad on a graph without gradient storage");
  TensorSlot& slot = tensors_[static_cast<std::size_t>(outputs_.at(static_cast<std::size_t>(output_index)))];
  slot.grad_written = true;
  return slot.grad;
}

namespace {

// When a tensor's gradient is alive, in backward steps (0 = the last op's backward):
// from its first write (the first consumer's backward, or before backward for a graph
// output) to its producer's backward, which reads it last.
struct GradLifetime {
  int tensor;
  std::size_t size;
  int first, last;
};

bool overlap(const GradLifetime& a, const GradLifetime& b) { return a.first <= b.last && b.first <= a.last; }

// First fit, largest first: each buffer goes at the lowest offset that collides with no
// placed buffer alive at the same time. Fills the offsets (in elements); returns the size.
std::size_t place_first_fit(const std::vector<GradLifetime>& lives, std::vector<std::size_t>& offsets) {
  std::vector<std::size_t> order(lives.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lives[a].size > lives[b].size; });
  std::vector<std::pair<std::size_t, std::size_t>> placed;  // (index into lives, offset)
  std::size_t arena = 0;
  offsets.assign(lives.size(), 0);
  for (std::size_t index : order) {
    std::vector<std::pair<std::size_t, std::size_t>> busy;  // (offset, end) of conflicting ones
    for (auto [other, offset] : placed) {
      if (overlap(lives[index], lives[other])) busy.emplace_back(offset, offset + lives[other].size);
    }
    std::sort(busy.begin(), busy.end());
    std::size_t offset = 0;
    for (auto [begin, end] : busy) {
      if (offset + lives[index].size <= begin) break;
      offset = std::max(offset, end);
    }
    offsets[index] = offset;
    placed.emplace_back(index, offset);
    arena = std::max(arena, offset + lives[index].size);
  }
  return arena;
}

}  // namespace

void Graph::plan_inference_values() {
  // A value lives from its producer op (the input: from before the first op) to its
  // last consumer; graph outputs to the end. An op's inputs and outputs are alive at the
  // same step, so no op ever writes over what it reads.
  const int steps = static_cast<int>(ops_.size());
  std::vector<GradLifetime> lives;
  for (std::size_t t = 0; t < tensors_.size(); ++t) {
    lives.push_back({static_cast<int>(t), tensors_[t].shape.numel(), t == 0 ? -1 : steps, -1});
  }
  for (int i = 0; i < steps; ++i) {
    for (int out : ops_[static_cast<std::size_t>(i)]->outputs) {
      GradLifetime& life = lives[static_cast<std::size_t>(out)];
      life.first = std::min(life.first, i);
      life.last = std::max(life.last, i);
    }
    for (int in : ops_[static_cast<std::size_t>(i)]->inputs) {
      GradLifetime& life = lives[static_cast<std::size_t>(in)];
      life.last = std::max(life.last, i);
    }
    for (int fused : ops_[static_cast<std::size_t>(i)]->fused_outputs) {  // written here, not by its producer
      GradLifetime& life = lives[static_cast<std::size_t>(fused)];
      life.first = std::min(life.first, i);
      life.last = std::max(life.last, i);
    }
  }
  for (int out : outputs_) lives[static_cast<std::size_t>(out)].last = steps;
  std::vector<std::size_t> offsets;
  value_arena_.assign(place_first_fit(lives, offsets), 0.0f);
  for (std::size_t t = 0; t < tensors_.size(); ++t) tensors_[t].value = value_arena_.data() + offsets[t];
}

void Graph::plan_gradients() {
  const int steps = static_cast<int>(ops_.size());
  std::vector<GradLifetime> lives;
  for (std::size_t t = 1; t < tensors_.size(); ++t) {
    lives.push_back({static_cast<int>(t), tensors_[t].shape.numel(), steps, -1});
  }
  auto life = [&](int tensor) -> GradLifetime& { return lives[static_cast<std::size_t>(tensor - 1)]; };
  for (int i = 0; i < steps; ++i) {
    const int position = steps - 1 - i;  // backward order
    for (int in : ops_[static_cast<std::size_t>(i)]->inputs) {
      if (in > 0) life(in).first = std::min(life(in).first, position);
    }
    for (int out : ops_[static_cast<std::size_t>(i)]->outputs) {
      life(out).last = std::max(life(out).last, position);
      life(out).first = std::min(life(out).first, position);  // zero-filled there if unused
    }
    for (int fused : ops_[static_cast<std::size_t>(i)]->fused_outputs) {  // read by this op's backward
      life(fused).last = std::max(life(fused).last, position);
    }
  }
  for (int out : outputs_) life(out).first = -1;
  // First fit, largest first (gradients alive at the same time never share memory).
  std::vector<std::size_t> offsets;
  const std::size_t arena = place_first_fit(lives, offsets);
  grad_arena_numel_ = arena;
  grad_offsets_.assign(tensors_.size(), 0);
  for (std::size_t i = 0; i < lives.size(); ++i) grad_offsets_[static_cast<std::size_t>(lives[i].tensor)] = offsets[i];
  if (storage_ == GraphStorage::kInference) plan_inference_values();
  if (storage_ != GraphStorage::kHost) return;
  grad_arena_.assign(arena, 0.0f);
  for (std::size_t i = 0; i < lives.size(); ++i) {
    tensors_[static_cast<std::size_t>(lives[i].tensor)].grad = grad_arena_.data() + offsets[i];
  }
}

void Graph::backward() {
  if (storage_ != GraphStorage::kHost) fail_internal("Graph::backward on a graph without gradient storage");
  for (std::size_t t = 0; t < tensors_.size(); ++t) {
    bool is_output = std::find(outputs_.begin(), outputs_.end(), static_cast<int>(t)) != outputs_.end();
    if (!is_output) tensors_[t].grad_written = false;
  }
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    GraphOp& op = **it;
    bool any = false;
    for (int out : op.outputs) any = any || tensors_[static_cast<std::size_t>(out)].grad_written;
    if (!any) continue;  // nothing downstream of this op reaches the loss
    for (int out : op.outputs) {  // an unused output of a multi-output op has zero gradient
      TensorSlot& slot = tensors_[static_cast<std::size_t>(out)];
      if (!slot.grad_written) {
        std::fill(slot.grad, slot.grad + slot.shape.numel(), 0.0f);
        slot.grad_written = true;
      }
    }
    op.backward(*this);
  }
}

float* Graph::grad_target(int tensor) {
  TensorSlot& slot = tensors_[static_cast<std::size_t>(tensor)];
  return slot.grad_written ? scratch_.data() : slot.grad;
}

void Graph::grad_commit(int tensor, float* written) {
  TensorSlot& slot = tensors_[static_cast<std::size_t>(tensor)];
  if (written != slot.grad) kernels::accumulate_cpu(slot.grad, written, slot.shape.numel());
  slot.grad_written = true;
}

float* Graph::param_grad_target(int param) {
  if (params_.grad_fresh(param)) return params_.grad(param);
  const std::size_t n = params_.entry(param).numel;
  if (param_scratch_.size() < n) param_scratch_.resize(n);
  return param_scratch_.data();
}

void Graph::param_grad_commit(int param, float* written) {
  float* grad = params_.grad(param);
  if (written != grad) kernels::accumulate_cpu(grad, written, params_.entry(param).numel);
  params_.mark_grad_written(param);
  if (grad_ready_ != nullptr && *grad_ready_) (*grad_ready_)(param);
}

std::size_t Graph::activation_bytes() const {
  std::size_t bytes = 0;
  for (const auto& slot : tensors_) bytes += slot.owned.size() * sizeof(float);
  return bytes + (value_arena_.size() + grad_arena_.size()) * sizeof(float);
}

double Graph::macs() const {
  double total = 0;
  for (const auto& op : ops_) total += op->macs();
  return total;
}

}  // namespace shrike::model
