// pipeline/model/cuda_graph.cpp: binding the Graph's ops to CUDA kernels, device
// allocation, and the forward and backward passes with the CPU graph's gradient rules.
#include "pipeline/model/cuda_graph.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <stdexcept>

#include "kernels/attention_cuda.h"
#include "kernels/batchnorm_cuda.h"
#include "kernels/elementwise_cuda.h"
#include "kernels/pool_cuda.h"
#include "pipeline/core/error.h"
#include "pipeline/model/graph_ops.h"
#include "pipeline/model/network.h"

namespace shrike::model {

using kernels::bf16;
using kernels::DeviceArray;

namespace {

enum class OpKind { kConv, kBatchNorm, kSilu, kAdd, kConcat, kSplit, kMaxPool, kUpsample, kAttention, kSkipped };

OpKind kind_of(const GraphOp& op) {
  const std::string kind = op.kind();
  if (kind == "conv") return OpKind::kConv;
  if (kind == "batchnorm") return OpKind::kBatchNorm;
  if (kind == "silu") return OpKind::kSilu;
  if (kind == "add") return OpKind::kAdd;
  if (kind == "concat") return OpKind::kConcat;
  if (kind == "split") return OpKind::kSplit;
  if (kind == "maxpool") return OpKind::kMaxPool;
  if (kind == "upsample") return OpKind::kUpsample;
  if (kind == "attention") return OpKind::kAttention;
  fail_internal("the CUDA backend has no kernel for op '{}' ({})", kind, op.module);
}

constexpr std::size_t kAlign = 256;
std::size_t aligned(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

}  // namespace

// One op as the GPU runs it: the CPU op (kind, tensors, geometry) plus device state.
struct CudaGraph::OpState {
  OpKind kind;
  GraphOp* op;
  std::vector<int> inputs, outputs;  // outputs after fusion (a fused BN writes the SiLU's)
  bool fused_silu = false;
  std::unique_ptr<kernels::ConvCudnn> conv;
  int weight = -1, bias = -1, running_mean = -1, running_var = -1, counter = -1;
  Shape4 shape;                                       // BN: its input
  DeviceArray<float> mean, var, invstd;               // BN batch statistics (C)
  DeviceArray<double> sums, local_sums;               // BN per-channel sums (2C)
  bool batch_stats = false;                           // BN: last forward in training mode
  DeviceArray<std::int32_t> argmax;                   // max pool
  DeviceArray<float> probs;                           // attention
};

CudaGraph::CudaGraph(kernels::CudaContext& context, const ModelSpec& spec, CudaParams& params, Shape4 input,
                     kernels::DType dtype, bool trainable)
    : context_(context), params_(params), dtype_(dtype), trainable_(trainable) {
  BuiltNetwork built = build_network(spec, params.host(), input, GraphStorage::kShapesOnly);
  graph_ = std::move(built.graph);
  strides_ = built.strides;
  const std::size_t element = kernels::dtype_size(dtype_);

  // Consumers of each tensor, to find BN -> SiLU pairs.
  const auto& ops = graph_->ops();
  const auto tensors = static_cast<std::size_t>(graph_->num_tensors());
  std::vector<std::vector<std::size_t>> consumers(tensors);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    for (int in : ops[i]->inputs) consumers[static_cast<std::size_t>(in)].push_back(i);
  }
  auto is_output = [&](int t) {
    return std::find(graph_->outputs().begin(), graph_->outputs().end(), t) != graph_->outputs().end();
  };
  std::vector<bool> skipped(ops.size(), false);
  std::size_t probs_max = 0, argmax_max = 0, weight_max = 0, channels_max = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    auto state = std::make_unique<OpState>();
    GraphOp& op = *ops[i];
    state->op = &op;
    state->kind = skipped[i] ? OpKind::kSkipped : kind_of(op);
    state->inputs = op.inputs;
    state->outputs = op.outputs;
    switch (state->kind) {
      case OpKind::kConv: {
        auto& conv = static_cast<ConvOp&>(op);
        state->conv = std::make_unique<kernels::ConvCudnn>(context_, conv.geometry(), dtype_);
        state->weight = conv.weight();
        state->bias = conv.bias();
        weight_max = std::max(weight_max, conv.geometry().weight_numel());
        channels_max = std::max(channels_max, static_cast<std::size_t>(conv.geometry().out_channels));
        break;
      }
      case OpKind::kBatchNorm: {
        auto& bn = static_cast<BatchNormOp&>(op);
        state->weight = bn.weight();
        state->bias = bn.bias();
        state->running_mean = bn.running_mean();
        state->running_var = bn.running_var();
        state->counter = bn.counter();
        state->shape = bn.shape();
        const auto c = static_cast<std::size_t>(bn.shape().c);
        state->mean.resize(c);
        state->var.resize(c);
        state->invstd.resize(c);
        state->sums.resize(2 * c);
        state->local_sums.resize(2 * c);
        channels_max = std::max(channels_max, 2 * c);
        const int y = op.outputs[0];
        const auto& users = consumers[static_cast<std::size_t>(y)];
        if (users.size() == 1 && !is_output(y) && std::string(ops[users[0]]->kind()) == "silu") {
          state->fused_silu = true;
          state->outputs = ops[users[0]]->outputs;
          skipped[users[0]] = true;
        }
        break;
      }
      case OpKind::kMaxPool: {
        auto& pool = static_cast<MaxPoolOp&>(op);
        state->argmax.resize(pool.geometry().output().numel());
        argmax_max = std::max(argmax_max, pool.geometry().output().numel());
        break;
      }
      case OpKind::kAttention: {
        auto& attention = static_cast<AttentionOp&>(op);
        state->probs.resize(attention.geometry().probs_numel());
        probs_max = std::max(probs_max, attention.geometry().probs_numel());
        break;
      }
      default:
        break;
    }
    ops_.push_back(std::move(state));
  }

  // Activations: one arena, each tensor at its own aligned offset (all live for backward).
  std::size_t total = 0;
  const std::size_t count = static_cast<std::size_t>(tensors);
  value_offsets_.assign(count, 0);
  for (std::size_t t = 0; t < count; ++t) {
    value_offsets_[t] = total;
    total += aligned(graph_->shape(static_cast<int>(t)).numel() * element);
  }
  values_.resize(total);
  if (trainable_) {
    grads_.resize(std::max<std::size_t>(graph_->grad_arena_numel() * element, 1));
    scratch_.resize(graph_->largest_tensor_numel() * element);
    param_scratch_.resize(std::max<std::size_t>(weight_max * element, 1));
    float_scratch_.resize(std::max<std::size_t>(channels_max, 1));
  }
  grad_written_.assign(count, 0);
}

CudaGraph::~CudaGraph() = default;

void CudaGraph::set_bn_sums_reducer(std::function<void(double*, std::size_t)> reducer, int world) {
  bn_reducer_ = std::move(reducer);
  bn_world_ = bn_reducer_ ? world : 1;
}

void* CudaGraph::output_grad(int i) {
  if (!trainable_) fail_internal("CudaGraph::output_grad on a forward-only graph");
  const int tensor = graph_->outputs().at(static_cast<std::size_t>(i));
  grad_written_[static_cast<std::size_t>(tensor)] = 1;
  return grad(tensor);
}

bool CudaGraph::grad_overlaps(int a, int b) const {
  const std::size_t a_begin = graph_->grad_offset(a), a_end = a_begin + numel(a);
  const std::size_t b_begin = graph_->grad_offset(b), b_end = b_begin + numel(b);
  return a_begin < b_end && b_begin < a_end;
}

void* CudaGraph::grad_target(int tensor) {
  return grad_written_[static_cast<std::size_t>(tensor)] ? scratch_.data() : grad(tensor);
}

template <typename T>
void CudaGraph::grad_commit(int tensor, void* written) {
  if (written != grad(tensor)) {
    kernels::accumulate_cuda<T>(static_cast<T*>(grad(tensor)), static_cast<const T*>(written), numel(tensor),
                                context_.stream());
  }
  grad_written_[static_cast<std::size_t>(tensor)] = 1;
}

template <typename T>
void CudaGraph::param_grad_write(int param, const T* source, std::size_t count) {
  kernels::accumulate_to_float_cuda<T>(params_.grad(param), source, count, params_.grad_fresh(param),
                                       context_.stream());
  params_.mark_grad_written(param);
  if (grad_ready_) grad_ready_(param);
}

void CudaGraph::forward(Mode mode) {
  if (dtype_ == kernels::DType::kBF16) {
    run_forward<bf16>(mode);
  } else {
    run_forward<float>(mode);
  }
}

void CudaGraph::backward() {
  if (!trainable_) fail_internal("CudaGraph::backward on a forward-only graph");
  if (dtype_ == kernels::DType::kBF16) {
    run_backward<bf16>();
  } else {
    run_backward<float>();
  }
}

template <typename T>
void CudaGraph::run_forward(Mode mode) {
  for (auto& op : ops_) {
    if (op->kind != OpKind::kSkipped) forward_op<T>(*op, mode);
  }
}

template <typename T>
void CudaGraph::run_backward() {
  for (std::size_t t = 0; t < grad_written_.size(); ++t) {
    const bool is_output = std::find(graph_->outputs().begin(), graph_->outputs().end(), static_cast<int>(t)) !=
                           graph_->outputs().end();
    if (!is_output) grad_written_[t] = 0;
  }
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    OpState& op = **it;
    if (op.kind == OpKind::kSkipped) continue;
    bool any = false;
    for (int out : op.outputs) any = any || grad_written_[static_cast<std::size_t>(out)];
    if (!any) continue;  // nothing downstream reaches the loss
    for (int out : op.outputs) {
      if (!grad_written_[static_cast<std::size_t>(out)]) {
        CUDA_CHECK(cudaMemsetAsync(grad(out), 0, numel(out) * sizeof(T), context_.stream()));
        grad_written_[static_cast<std::size_t>(out)] = 1;
      }
    }
    backward_op<T>(op);
  }
}

template <typename T>
void CudaGraph::forward_op(OpState& op, Mode mode) {
  cudaStream_t stream = context_.stream();
  auto in = [&](std::size_t i) { return static_cast<const T*>(value(op.inputs[i])); };
  auto out = [&](std::size_t i) { return static_cast<T*>(value(op.outputs[i])); };
  switch (op.kind) {
    case OpKind::kConv: {
      const void* w = dtype_ == kernels::DType::kBF16 ? static_cast<const void*>(params_.half(op.weight))
                                                      : static_cast<const void*>(params_.value(op.weight));
      op.conv->forward(out(0), in(0), w, op.bias >= 0 ? params_.value(op.bias) : nullptr);
      break;
    }
    case OpKind::kBatchNorm: {
      const float* gamma = params_.value(op.weight);
      const float* beta = params_.value(op.bias);
      if (mode == Mode::kTrain) {
        kernels::batchnorm_forward_sums_cuda<T>(op.sums.data(), in(0), op.shape, stream);
        if (bn_reducer_) bn_reducer_(op.sums.data(), op.sums.size());  // the global batch's statistics
        const double count = static_cast<double>(op.shape.n) * op.shape.plane() * bn_world_;
        kernels::batchnorm_finish_stats_cuda(op.mean.data(), op.var.data(), op.invstd.data(),
                                             params_.value(op.running_mean), params_.value(op.running_var),
                                             op.sums.data(), op.shape.c, count, BatchNormOp::kEps,
                                             BatchNormOp::kMomentum, stream);
        kernels::batchnorm_apply_cuda<T>(out(0), in(0), op.mean.data(), op.invstd.data(), gamma, beta, op.shape,
                                         op.fused_silu, stream);
        *params_.host().counter(op.counter) += 1;
        op.batch_stats = true;
      } else {
        kernels::batchnorm_eval_forward_cuda<T>(out(0), in(0), gamma, beta, params_.value(op.running_mean),
                                                params_.value(op.running_var), op.shape, BatchNormOp::kEps,
                                                op.fused_silu, stream);
        op.batch_stats = false;
      }
      break;
    }
    case OpKind::kSilu:
      kernels::silu_forward_cuda<T>(out(0), in(0), numel(op.inputs[0]), stream);
      break;
    case OpKind::kAdd:
      kernels::add_cuda<T>(out(0), in(0), in(1), numel(op.outputs[0]), stream);
      break;
    case OpKind::kConcat: {
      const int total = graph_->shape(op.outputs[0]).c;
      int offset = 0;
      for (std::size_t i = 0; i < op.inputs.size(); ++i) {
        kernels::copy_into_channels_cuda<T>(out(0), total, offset, in(i), graph_->shape(op.inputs[i]), stream);
        offset += graph_->shape(op.inputs[i]).c;
      }
      break;
    }
    case OpKind::kSplit: {
      const int total = graph_->shape(op.inputs[0]).c;
      int offset = 0;
      for (std::size_t i = 0; i < op.outputs.size(); ++i) {
        kernels::copy_from_channels_cuda<T>(out(i), graph_->shape(op.outputs[i]), in(0), total, offset, stream);
        offset += graph_->shape(op.outputs[i]).c;
      }
      break;
    }
    case OpKind::kMaxPool:
      kernels::maxpool_forward_cuda<T>(out(0), op.argmax.data(), in(0), static_cast<MaxPoolOp*>(op.op)->geometry(),
                                       stream);
      break;
    case OpKind::kUpsample:
      kernels::upsample_nearest_forward_cuda<T>(out(0), in(0), graph_->shape(op.inputs[0]),
                                                static_cast<UpsampleOp*>(op.op)->factor(), stream);
      break;
    case OpKind::kAttention:
      kernels::attention_forward_cuda<T>(context_, out(0), out(1), op.probs.data(), in(0),
                                         static_cast<AttentionOp*>(op.op)->geometry());
      break;
    case OpKind::kSkipped:
      break;
  }
}

template <typename T>
void CudaGraph::backward_op(OpState& op) {
  cudaStream_t stream = context_.stream();
  auto in = [&](std::size_t i) { return static_cast<const T*>(value(op.inputs[i])); };
  auto dout = [&](std::size_t i) { return static_cast<const T*>(grad(op.outputs[i])); };
  switch (op.kind) {
    case OpKind::kConv: {
      const kernels::ConvGeometry& g = op.conv->geometry();
      float* db = op.bias >= 0 ? float_scratch_.data() : nullptr;
      op.conv->backward_weights(param_scratch_.data(), db, dout(0), in(0));
      param_grad_write<T>(op.weight, reinterpret_cast<const T*>(param_scratch_.data()), g.weight_numel());
      if (op.bias >= 0) param_grad_write<float>(op.bias, db, static_cast<std::size_t>(g.out_channels));
      const int x = op.inputs[0];
      if (graph_->needs_grad(x)) {
        const void* w = dtype_ == kernels::DType::kBF16 ? static_cast<const void*>(params_.half(op.weight))
                                                        : static_cast<const void*>(params_.value(op.weight));
        const bool accumulate = grad_written_[static_cast<std::size_t>(x)] != 0;
        op.conv->backward_data(grad(x), dout(0), w, accumulate);
        grad_written_[static_cast<std::size_t>(x)] = 1;
      }
      break;
    }
    case OpKind::kBatchNorm: {
      if (!op.batch_stats) throw std::logic_error("BatchNorm backward after an eval-mode forward (" + op.op->module + ")");
      const float* gamma = params_.value(op.weight);
      const float* beta = params_.value(op.bias);
      kernels::batchnorm_backward_sums_cuda<T>(op.sums.data(), dout(0), in(0), op.mean.data(), op.invstd.data(), gamma,
                                               beta, op.shape, op.fused_silu, stream);
      const double* local = op.sums.data();
      if (bn_reducer_) {
        CUDA_CHECK(cudaMemcpyAsync(op.local_sums.data(), op.sums.data(), op.sums.bytes(), cudaMemcpyDeviceToDevice,
                                   stream));
        bn_reducer_(op.sums.data(), op.sums.size());
        local = op.local_sums.data();
      }
      const double count = static_cast<double>(op.shape.n) * op.shape.plane() * bn_world_;
      const auto c = static_cast<std::size_t>(op.shape.c);
      float* dgamma = float_scratch_.data();
      float* dbeta = float_scratch_.data() + c;
      const int x = op.inputs[0];
      void* dx = grad_target(x);
      // The gradient plan (Graph::plan_gradients) ends the SiLU output's gradient at the
      // SiLU's backward step; fused, it is read one step later, here, where x's gradient
      // may already share its memory. The same offset is safe (the kernel reads dy[i] and
      // writes dx[i] in one thread); a partial overlap is not: go through the scratch.
      const bool staged = op.fused_silu && dx == grad(x) && grad_overlaps(x, op.outputs[0]) &&
                          graph_->grad_offset(x) != graph_->grad_offset(op.outputs[0]);
      if (staged) dx = scratch_.data();
      kernels::batchnorm_backward_apply_cuda<T>(static_cast<T*>(dx), dgamma, dbeta, op.sums.data(), local, count,
                                                dout(0), in(0), op.mean.data(), op.invstd.data(), gamma, beta,
                                                op.shape, op.fused_silu, stream);
      if (staged) {
        CUDA_CHECK(cudaMemcpyAsync(grad(x), dx, numel(x) * sizeof(T), cudaMemcpyDeviceToDevice, stream));
        grad_written_[static_cast<std::size_t>(x)] = 1;
      } else {
        grad_commit<T>(x, dx);
      }
      param_grad_write<float>(op.weight, dgamma, c);
      param_grad_write<float>(op.bias, dbeta, c);
      break;
    }
    case OpKind::kSilu: {
      void* dx = grad_target(op.inputs[0]);
      kernels::silu_backward_cuda<T>(static_cast<T*>(dx), dout(0), in(0), numel(op.inputs[0]), stream);
      grad_commit<T>(op.inputs[0], dx);
      break;
    }
    case OpKind::kAdd: {
      const std::size_t n = numel(op.outputs[0]);
      for (int input : op.inputs) {
        if (grad_written_[static_cast<std::size_t>(input)]) {
          kernels::accumulate_cuda<T>(static_cast<T*>(grad(input)), dout(0), n, stream);
        } else {
          CUDA_CHECK(cudaMemcpyAsync(grad(input), dout(0), n * sizeof(T), cudaMemcpyDeviceToDevice, stream));
          grad_written_[static_cast<std::size_t>(input)] = 1;
        }
      }
      break;
    }
    case OpKind::kConcat: {
      const int total = graph_->shape(op.outputs[0]).c;
      int offset = 0;
      for (int input : op.inputs) {
        if (graph_->needs_grad(input)) {
          void* dx = grad_target(input);
          kernels::copy_from_channels_cuda<T>(static_cast<T*>(dx), graph_->shape(input), dout(0), total, offset,
                                              stream);
          grad_commit<T>(input, dx);
        }
        offset += graph_->shape(input).c;
      }
      break;
    }
    case OpKind::kSplit: {
      const int total = graph_->shape(op.inputs[0]).c;
      void* dx = grad_target(op.inputs[0]);
      int offset = 0;
      for (std::size_t i = 0; i < op.outputs.size(); ++i) {
        kernels::copy_into_channels_cuda<T>(static_cast<T*>(dx), total, offset, dout(i),
                                            graph_->shape(op.outputs[i]), stream);
        offset += graph_->shape(op.outputs[i]).c;
      }
      grad_commit<T>(op.inputs[0], dx);
      break;
    }
    case OpKind::kMaxPool: {
      void* dx = grad_target(op.inputs[0]);
      kernels::maxpool_backward_cuda<T>(static_cast<T*>(dx), dout(0), op.argmax.data(),
                                        static_cast<MaxPoolOp*>(op.op)->geometry(), stream);
      grad_commit<T>(op.inputs[0], dx);
      break;
    }
    case OpKind::kUpsample: {
      void* dx = grad_target(op.inputs[0]);
      kernels::upsample_nearest_backward_cuda<T>(static_cast<T*>(dx), dout(0), graph_->shape(op.inputs[0]),
                                                 static_cast<UpsampleOp*>(op.op)->factor(), stream);
      grad_commit<T>(op.inputs[0], dx);
      break;
    }
    case OpKind::kAttention: {
      void* dqkv = grad_target(op.inputs[0]);
      kernels::attention_backward_cuda<T>(context_, static_cast<T*>(dqkv), dout(0), dout(1), in(0), op.probs.data(),
                                          static_cast<AttentionOp*>(op.op)->geometry());
      grad_commit<T>(op.inputs[0], dqkv);
      break;
    }
    case OpKind::kSkipped:
      break;
  }
}

}  // namespace shrike::model
