// pipeline/model/graph.cpp: tensor allocation, forward and backward over the op list,
// and the gradient fan-in rule.
#include "pipeline/model/graph.h"

#include <algorithm>
#include <cstring>

#include "kernels/elementwise.h"
#include "pipeline/core/error.h"

namespace shrike::model {

Graph::Graph(ParamStore& params, Shape4 input_shape) : params_(params) {
  add_tensor(input_shape);
  tensors_[0].needs_grad = false;
  tensors_[0].grad.clear();
}

int Graph::add_tensor(Shape4 shape) {
  TensorSlot slot;
  slot.shape = shape;
  slot.value.assign(shape.numel(), 0.0f);
  slot.grad.assign(shape.numel(), 0.0f);
  tensors_.push_back(std::move(slot));
  if (shape.numel() > scratch_.size()) scratch_.resize(shape.numel());
  return static_cast<int>(tensors_.size() - 1);
}

void Graph::add_op(std::unique_ptr<GraphOp> op) { ops_.push_back(std::move(op)); }

void Graph::forward(const float* image, Mode mode) {
  if (!params_.finalized()) fail_internal("Graph::forward before the parameters were laid out");
  std::memcpy(tensors_[0].value.data(), image, tensors_[0].value.size() * sizeof(float));
  for (auto& op : ops_) op->forward(*this, mode);
}

float* Graph::output_grad(int output_index) {
  TensorSlot& slot = tensors_[static_cast<std::size_t>(outputs_.at(static_cast<std::size_t>(output_index)))];
  slot.grad_written = true;
  return slot.grad.data();
}

void Graph::backward() {
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
        std::fill(slot.grad.begin(), slot.grad.end(), 0.0f);
        slot.grad_written = true;
      }
    }
    op.backward(*this);
  }
}

float* Graph::grad_target(int tensor) {
  TensorSlot& slot = tensors_[static_cast<std::size_t>(tensor)];
  return slot.grad_written ? scratch_.data() : slot.grad.data();
}

void Graph::grad_commit(int tensor, float* written) {
  TensorSlot& slot = tensors_[static_cast<std::size_t>(tensor)];
  if (written != slot.grad.data()) kernels::accumulate_cpu(slot.grad.data(), written, slot.grad.size());
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
}

std::size_t Graph::activation_bytes() const {
  std::size_t bytes = 0;
  for (const auto& slot : tensors_) bytes += (slot.value.size() + slot.grad.size()) * sizeof(float);
  return bytes;
}

double Graph::macs() const {
  double total = 0;
  for (const auto& op : ops_) total += op->macs();
  return total;
}

}  // namespace shrike::model
