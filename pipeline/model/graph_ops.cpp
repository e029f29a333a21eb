// pipeline/model/graph_ops.cpp: forward and backward of each primitive op.
#include "pipeline/model/graph_ops.h"

#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/layout.h"
#include "kernels/upsample.h"

#include <algorithm>
#include <stdexcept>

namespace shrike::model {

using namespace shrike::kernels;

namespace {
bool nhwc(const Graph& g) { return g.layout() == Layout::kNHWC; }
}  // namespace

// --- conv ------------------------------------------------------------------------

ConvOp::ConvOp(const ConvGeometry& geometry, Layout layout, int weight, int bias)
    : plan_(geometry, layout), weight_(weight), bias_(bias), bias_scratch_(bias >= 0 ? geometry.out_channels : 0) {}

void ConvOp::forward(Graph& g, Mode) {
  ParamStore& p = g.params();
  plan_.forward(g.value(outputs[0]), g.value(inputs[0]), p.value(weight_), bias_ >= 0 ? p.value(bias_) : nullptr);
}

void ConvOp::backward(Graph& g) {
  ParamStore& p = g.params();
  const float* dy = g.grad(outputs[0]);
  float* dw = g.param_grad_target(weight_);
  float* db = nullptr;  // the weight target may be the graph's scratch: the bias has its own
  if (bias_ >= 0) db = p.grad_fresh(bias_) ? p.grad(bias_) : bias_scratch_.data();
  plan_.backward_weights(dw, db, dy, g.value(inputs[0]));
  g.param_grad_commit(weight_, dw);
  if (bias_ >= 0) g.param_grad_commit(bias_, db);
  if (g.needs_grad(inputs[0])) {
    float* dx = g.grad_target(inputs[0]);
    plan_.backward_data(dx, dy, p.value(weight_));
    g.grad_commit(inputs[0], dx);
  }
}

// --- batch norm ----------------------------------------------------------------------

BatchNormOp::BatchNormOp(Shape4 shape, int weight, int bias, int running_mean, int running_var, int counter)
    : shape_(shape),
      weight_(weight),
      bias_(bias),
      running_mean_(running_mean),
      running_var_(running_var),
      counter_(counter),
      mean_(static_cast<std::size_t>(shape.c)),
      var_(static_cast<std::size_t>(shape.c)),
      invstd_(static_cast<std::size_t>(shape.c)),
      dgamma_(static_cast<std::size_t>(shape.c)),
      dbeta_(static_cast<std::size_t>(shape.c)) {}

void BatchNormOp::forward(Graph& g, Mode mode) {
  ParamStore& p = g.params();
  const bool silu = !fused_outputs.empty();
  float* y = g.value(silu ? fused_outputs[0] : outputs[0]);
  if (mode == Mode::kTrain) {
    const BatchStatsReducer* reducer = g.batch_stats_reducer();
    auto train_forward = silu      ? batchnorm_silu_train_forward_nhwc_cpu<float>
                         : nhwc(g) ? batchnorm_train_forward_nhwc_cpu<float>
                                   : batchnorm_train_forward_cpu<float>;
    train_forward(y, mean_.data(), var_.data(), invstd_.data(), g.value(inputs[0]), p.value(weight_), p.value(bias_),
                  shape_, kEps, reducer);
    Shape4 statistics = shape_;  // with sync_bn the statistics cover every rank's batch
    if (reducer != nullptr) statistics.n *= reducer->world;
    batchnorm_update_running_cpu(p.value(running_mean_), p.value(running_var_), mean_.data(), var_.data(), statistics,
                                 kMomentum);
    *p.counter(counter_) += 1;
    batch_stats_ = true;
  } else {
    auto eval_forward = silu      ? batchnorm_silu_eval_forward_nhwc_cpu<float>
                        : nhwc(g) ? batchnorm_eval_forward_nhwc_cpu<float>
                                  : batchnorm_eval_forward_cpu<float>;
    eval_forward(y, g.value(inputs[0]), p.value(weight_), p.value(bias_), p.value(running_mean_),
                 p.value(running_var_), shape_, kEps);
    batch_stats_ = false;
  }
}

void BatchNormOp::backward(Graph& g) {
  if (!batch_stats_) throw std::logic_error("BatchNorm backward after an eval-mode forward (" + module + ")");
  ParamStore& p = g.params();
  float* dx = g.grad_target(inputs[0]);
  if (!fused_outputs.empty()) {  // the gradient of silu(bn(x)), bn(x) recomputed
    batchnorm_silu_train_backward_nhwc_cpu(dx, dgamma_.data(), dbeta_.data(), g.grad(fused_outputs[0]),
                                           g.value(inputs[0]), mean_.data(), invstd_.data(), p.value(weight_),
                                           p.value(bias_), shape_, g.batch_stats_reducer());
  } else {
    auto train_backward = nhwc(g) ? batchnorm_train_backward_nhwc_cpu<float> : batchnorm_train_backward_cpu<float>;
    train_backward(dx, dgamma_.data(), dbeta_.data(), g.grad(outputs[0]), g.value(inputs[0]), mean_.data(),
                   invstd_.data(), p.value(weight_), shape_, g.batch_stats_reducer());
  }
  g.grad_commit(inputs[0], dx);
  float* gw = g.param_grad_target(weight_);
  std::copy(dgamma_.begin(), dgamma_.end(), gw);
  g.param_grad_commit(weight_, gw);
  float* gb = g.param_grad_target(bias_);
  std::copy(dbeta_.begin(), dbeta_.end(), gb);
  g.param_grad_commit(bias_, gb);
}

// --- pointwise and data movement --------------------------------------------------------

void SiluOp::forward(Graph& g, Mode) {
  if (fused_) return;  // the batch norm before it wrote the output
  silu_forward_cpu(g.value(outputs[0]), g.value(inputs[0]), g.shape(inputs[0]).numel());
}

void SiluOp::backward(Graph& g) {
  if (fused_) {  // the batch norm's backward reads this op's output gradient itself
    g.mark_grad_handled(inputs[0]);
    return;
  }
  float* dx = g.grad_target(inputs[0]);
  silu_backward_cpu(dx, g.grad(outputs[0]), g.value(inputs[0]), g.shape(inputs[0]).numel());
  g.grad_commit(inputs[0], dx);
}

void AddOp::forward(Graph& g, Mode) {
  add_cpu(g.value(outputs[0]), g.value(inputs[0]), g.value(inputs[1]), g.shape(outputs[0]).numel());
}

void AddOp::backward(Graph& g) {
  const std::size_t n = g.shape(outputs[0]).numel();
  for (int input : inputs) {
    float* dx = g.grad_target(input);
    std::copy(g.grad(outputs[0]), g.grad(outputs[0]) + n, dx);
    g.grad_commit(input, dx);
  }
}

void ConcatOp::forward(Graph& g, Mode) {
  auto copy_into_channels = nhwc(g) ? copy_into_channels_nhwc_cpu : copy_into_channels_cpu;
  const int total = g.shape(outputs[0]).c;
  int offset = 0;
  for (int input : inputs) {
    copy_into_channels(g.value(outputs[0]), total, offset, g.value(input), g.shape(input));
    offset += g.shape(input).c;
  }
}

void ConcatOp::backward(Graph& g) {
  auto copy_from_channels = nhwc(g) ? copy_from_channels_nhwc_cpu : copy_from_channels_cpu;
  const int total = g.shape(outputs[0]).c;
  int offset = 0;
  for (int input : inputs) {
    if (g.needs_grad(input)) {
      float* dx = g.grad_target(input);
      copy_from_channels(dx, g.shape(input), g.grad(outputs[0]), total, offset);
      g.grad_commit(input, dx);
    }
    offset += g.shape(input).c;
  }
}

void SplitOp::forward(Graph& g, Mode) {
  auto copy_from_channels = nhwc(g) ? copy_from_channels_nhwc_cpu : copy_from_channels_cpu;
  const int total = g.shape(inputs[0]).c;
  int offset = 0;
  for (int output : outputs) {
    copy_from_channels(g.value(output), g.shape(output), g.value(inputs[0]), total, offset);
    offset += g.shape(output).c;
  }
}

void SplitOp::backward(Graph& g) {
  auto copy_into_channels = nhwc(g) ? copy_into_channels_nhwc_cpu : copy_into_channels_cpu;
  const int total = g.shape(inputs[0]).c;
  float* dx = g.grad_target(inputs[0]);
  int offset = 0;
  for (int output : outputs) {
    copy_into_channels(dx, total, offset, g.grad(output), g.shape(output));
    offset += g.shape(output).c;
  }
  g.grad_commit(inputs[0], dx);
}

MaxPoolOp::MaxPoolOp(const PoolGeometry& geometry) : geometry_(geometry), argmax_(geometry.output().numel()) {}

void MaxPoolOp::forward(Graph& g, Mode) {
  auto maxpool_forward = nhwc(g) ? maxpool_forward_nhwc_cpu<float> : maxpool_forward_cpu<float>;
  maxpool_forward(g.value(outputs[0]), argmax_.data(), g.value(inputs[0]), geometry_);
}

void MaxPoolOp::backward(Graph& g) {
  float* dx = g.grad_target(inputs[0]);
  auto maxpool_backward = nhwc(g) ? maxpool_backward_nhwc_cpu<float> : maxpool_backward_cpu<float>;
  maxpool_backward(dx, g.grad(outputs[0]), argmax_.data(), geometry_);
  g.grad_commit(inputs[0], dx);
}

void UpsampleOp::forward(Graph& g, Mode) {
  auto upsample_forward = nhwc(g) ? upsample_nearest_forward_nhwc_cpu<float> : upsample_nearest_forward_cpu<float>;
  upsample_forward(g.value(outputs[0]), g.value(inputs[0]), g.shape(inputs[0]), factor_);
}

void UpsampleOp::backward(Graph& g) {
  float* dx = g.grad_target(inputs[0]);
  auto upsample_backward = nhwc(g) ? upsample_nearest_backward_nhwc_cpu<float> : upsample_nearest_backward_cpu<float>;
  upsample_backward(dx, g.grad(outputs[0]), g.shape(inputs[0]), factor_);
  g.grad_commit(inputs[0], dx);
}

// --- attention -------------------------------------------------------------------------

AttentionOp::AttentionOp(const AttentionGeometry& geometry) : geometry_(geometry), probs_(geometry.probs_numel()) {}

void AttentionOp::forward(Graph& g, Mode) {
  if (!nhwc(g)) {
    attention_forward_cpu(g.value(outputs[0]), g.value(outputs[1]), probs_.data(), g.value(inputs[0]), geometry_);
    return;
  }
  const Shape4 in = g.shape(inputs[0]), out = g.shape(outputs[0]);
  qkv_nchw_.resize(in.numel());
  out_nchw_.resize(out.numel());
  v_nchw_.resize(out.numel());
  nhwc_to_nchw_cpu(qkv_nchw_.data(), g.value(inputs[0]), in);
  attention_forward_cpu(out_nchw_.data(), v_nchw_.data(), probs_.data(), qkv_nchw_.data(), geometry_);
  nchw_to_nhwc_cpu(g.value(outputs[0]), out_nchw_.data(), out);
  nchw_to_nhwc_cpu(g.value(outputs[1]), v_nchw_.data(), out);
}

void AttentionOp::backward(Graph& g) {
  float* dqkv = g.grad_target(inputs[0]);
  if (!nhwc(g)) {
    attention_backward_cpu(dqkv, g.grad(outputs[0]), g.grad(outputs[1]), g.value(inputs[0]), probs_.data(), geometry_);
    g.grad_commit(inputs[0], dqkv);
    return;
  }
  // The forward's NCHW qkv is still in qkv_nchw_ (one forward per backward); the output
  // gradients go through out_nchw_ and v_nchw_, the input gradient through dqkv_nchw_.
  const Shape4 in = g.shape(inputs[0]), out = g.shape(outputs[0]);
  dqkv_nchw_.resize(in.numel());
  nhwc_to_nchw_cpu(out_nchw_.data(), g.grad(outputs[0]), out);
  nhwc_to_nchw_cpu(v_nchw_.data(), g.grad(outputs[1]), out);
  attention_backward_cpu(dqkv_nchw_.data(), out_nchw_.data(), v_nchw_.data(), qkv_nchw_.data(), probs_.data(),
                         geometry_);
  nchw_to_nhwc_cpu(dqkv, dqkv_nchw_.data(), in);
  g.grad_commit(inputs[0], dqkv);
}

// --- fusion ----------------------------------------------------------------------------

void fuse_batchnorm_silu(Graph& g) {
  if (!nhwc(g)) return;
  const auto& ops = g.ops();
  std::vector<int> readers(static_cast<std::size_t>(g.num_tensors()), 0);
  for (const auto& op : ops) {
    for (int t : op->inputs) ++readers[static_cast<std::size_t>(t)];
  }
  for (int t : g.outputs()) ++readers[static_cast<std::size_t>(t)];
  for (std::size_t i = 0; i + 1 < ops.size(); ++i) {
    auto* bn = dynamic_cast<BatchNormOp*>(ops[i].get());
    auto* silu = dynamic_cast<SiluOp*>(ops[i + 1].get());
    if (bn == nullptr || silu == nullptr) continue;
    const int y = bn->outputs[0];
    if (silu->inputs[0] != y || readers[static_cast<std::size_t>(y)] != 1) continue;
    bn->fuse_silu(silu->outputs[0]);
    silu->mark_fused();
  }
}

// --- layout ----------------------------------------------------------------------------

void ToNchwOp::forward(Graph& g, Mode) { nhwc_to_nchw_cpu(g.value(outputs[0]), g.value(inputs[0]), g.shape(inputs[0])); }

void ToNchwOp::backward(Graph& g) {
  float* dx = g.grad_target(inputs[0]);
  nchw_to_nhwc_cpu(dx, g.grad(outputs[0]), g.shape(inputs[0]));
  g.grad_commit(inputs[0], dx);
}

double AttentionOp::macs() const {
  const double n = geometry_.tokens();
  return static_cast<double>(geometry_.batch) * geometry_.heads * n * n * (geometry_.key_dim + geometry_.head_dim);
}

}  // namespace shrike::model
