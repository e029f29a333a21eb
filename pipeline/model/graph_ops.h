// pipeline/model/graph_ops.h
//
// The primitive ops of a Graph, each a thin wrapper that binds a kernel from
// kernels/ to tensor ids, parameter ids and the state it saves for backward.
// GraphBuilder creates them; nothing else does. Each runs on the graph's layout
// (Graph::layout()): the NHWC kernels on a CPU graph, the NCHW ones otherwise.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/attention.h"
#include "kernels/conv.h"
#include "kernels/pool.h"
#include "pipeline/model/graph.h"

namespace shrike::model {

// y = conv(x, weight) (+ bias). Parameters: weight (OIHW) and, optionally, bias.
class ConvOp : public GraphOp {
 public:
  ConvOp(const kernels::ConvGeometry& geometry, kernels::Layout layout, int weight, int bias);
  const char* kind() const override { return "conv"; }
  void forward(Graph& graph, Mode mode) override;
  void backward(Graph& graph) override;
  double macs() const override { return plan_.geometry().macs(); }
  const kernels::ConvGeometry& geometry() const { return plan_.geometry(); }  // for export
  int weight() const { return weight_; }
  int bias() const { return bias_; }  // -1 without

 private:
  kernels::ConvCpu plan_;
  int weight_, bias_;
  std::vector<float> bias_scratch_;  // bias gradient of a later micro-batch
};

// BatchNorm2d (eps 1e-3, momentum 0.03): batch statistics in Mode::kTrain (and the
// running-statistics update), running statistics in Mode::kEval.
class BatchNormOp : public GraphOp {
 public:
  BatchNormOp(Shape4 shape, int weight, int bias, int running_mean, int running_var, int counter);
  const char* kind() const override { return "batchnorm"; }
  void forward(Graph& graph, Mode mode) override;
  void backward(Graph& graph) override;

  Shape4 shape() const { return shape_; }
  // Runs the SiLU that reads this op's output too (see fuse_batchnorm_silu).
  void fuse_silu(int silu_output) { fused_outputs = {silu_output}; }
  int weight() const { return weight_; }
  int bias() const { return bias_; }
  int running_mean() const { return running_mean_; }
  int running_var() const { return running_var_; }
  int counter() const { return counter_; }

  static constexpr float kEps = 1e-3f;
  static constexpr float kMomentum = 0.03f;

 private:
  Shape4 shape_;
  int weight_, bias_, running_mean_, running_var_, counter_;
  std::vector<float> mean_, var_, invstd_, dgamma_, dbeta_;
  bool batch_stats_ = false;  // whether the last forward used batch statistics
};

class SiluOp : public GraphOp {
 public:
  const char* kind() const override { return "silu"; }
  void forward(Graph& graph, Mode mode) override;
  void backward(Graph& graph) override;
  // The batch norm before it computes it (see fuse_batchnorm_silu).
  void mark_fused() { fused_ = true; }

 private:
  bool fused_ = false;
};

class AddOp : public GraphOp {
 public:
  const char* kind() const override { return "add"; }
  void forward(Graph& graph, Mode mode) override;
  void backward(Graph& graph) override;
};

// Concatenation along channels.
class ConcatOp : public GraphOp {
 public:
  const char* kind() const override { return "concat"; }
  void forward(Graph& graph, Mode mode) override;
  void backward(Graph& graph) override;
};

// Split along channels into consecutive ranges (one output each).
class SplitOp : public GraphOp {
 public:
  const char* kind() const override { return "split"; }
  void forward(Graph& graph, Mode mode) override;
  void backward(Graph& graph) override;
};

class MaxPoolOp : public GraphOp {
 public:
  explicit MaxPoolOp(const kernels::PoolGeometry& geometry);
  const char* kind() const override { return "maxpool"; }
  void forward(Graph& graph, Mode mode) override;
  void backward(Graph& graph) override;
  const kernels::PoolGeometry& geometry() const { return geometry_; }  // for export

 private:
  kernels::PoolGeometry geometry_;
  std::vector<std::int32_t> argmax_;
};

class UpsampleOp : public GraphOp {
 public:
  explicit UpsampleOp(int factor) : factor_(factor) {}
  const char* kind() const override { return "upsample"; }
  void forward(Graph& graph, Mode mode) override;
  void backward(Graph& graph) override;
  int factor() const { return factor_; }  // for export

 private:
  int factor_;
};

// C2PSA's attention core: qkv -> (out, v_image). See kernels/attention.h. The kernel is
// NCHW; an NHWC graph transposes around it (the tensors are the network's smallest).
class AttentionOp : public GraphOp {
 public:
  explicit AttentionOp(const kernels::AttentionGeometry& geometry);
  const char* kind() const override { return "attention"; }
  void forward(Graph& graph, Mode mode) override;
  void backward(Graph& graph) override;
  double macs() const override;
  const kernels::AttentionGeometry& geometry() const { return geometry_; }  // for export

 private:
  kernels::AttentionGeometry geometry_;
  std::vector<float> probs_;
  std::vector<float> qkv_nchw_, out_nchw_, v_nchw_, dqkv_nchw_;  // NHWC graphs: the kernel's operands
};

// Fuses each batch norm with the SiLU that is its output's only reader (nearly every
// Conv module): the batch norm writes silu(bn(x)) in one pass and its backward takes the
// SiLU's output gradient, so the pair never writes or reads bn(x). NHWC graphs only
// (the NHWC kernels have the fused form); call before planning memory.
void fuse_batchnorm_silu(Graph& graph);

// An NHWC graph's output as NCHW (the last op of each output, see graph.h).
class ToNchwOp : public GraphOp {
 public:
  const char* kind() const override { return "to_nchw"; }
  void forward(Graph& graph, Mode mode) override;
  void backward(Graph& graph) override;
};

}  // namespace shrike::model
