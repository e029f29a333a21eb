// pipeline/model/cuda_graph.h
//
// The network for one input shape on the GPU (DESIGN.md § Two backends, one graph):
// the same op list the CPU Graph builds (GraphBuilder, with GraphStorage::kShapesOnly
// so nothing is allocated on the host), each op bound to its CUDA kernel, every
// activation and gradient allocated on the device once, at construction: a step
// allocates nothing. Backward follows the CPU rules exactly: ops in reverse, gradient
// fan-in summed (the first writer writes, later ones add), unused outputs zero.
//
// Mixed precision (dtype kBF16): activations and their gradients are bf16, the
// convolutions read the bf16 copy of the weights (CudaParams::half) and accumulate in
// fp32, BatchNorm keeps fp32 statistics and parameters, parameter gradients are
// accumulated in fp32. dtype kF32 is the test mode, an exact twin of the CPU graph.
//
// Fusion: a BatchNorm whose output feeds only a SiLU (every Conv block) runs as one
// kernel writing silu(bn(x)); its backward recomputes bn(x) from x. The SiLU op is
// skipped and the BatchNorm output never materialised.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/conv_cudnn.h"
#include "kernels/cuda_context.h"
#include "kernels/device_array.h"
#include "kernels/dtype.h"
#include "pipeline/model/cuda_params.h"
#include "pipeline/model/graph.h"
#include "pipeline/model/model_spec.h"

namespace shrike::model {

class CudaGraph {
 public:
  // Builds the graph of `spec` for `input` (N, 3, H, W) over `params` (whose host store
  // already holds every tensor of the model). `trainable` false: forward passes only
  // (validation), no gradient memory.
  CudaGraph(kernels::CudaContext& context, const ModelSpec& spec, CudaParams& params, Shape4 input,
            kernels::DType dtype, bool trainable = true);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  Shape4 input_shape() const { return graph_->input_shape(); }
  kernels::DType dtype() const { return dtype_; }
  const std::vector<int>& strides() const { return strides_; }

  // The input tensor (device, dtype, NCHW in 0..1): write it, then forward().
  void* input() { return value(0); }
  void forward(Mode mode);

  int num_outputs() const { return static_cast<int>(graph_->outputs().size()); }
  Shape4 output_shape(int i) const { return graph_->shape(graph_->outputs().at(static_cast<std::size_t>(i))); }
  const void* output(int i) { return value(graph_->outputs().at(static_cast<std::size_t>(i))); }
  // Where to write the gradient of output i (dtype) before backward().
  void* output_grad(int i);
  // Accumulates d(loss)/d(parameter) into the CudaParams gradients.
  void backward();

  // sync_bn: per-channel sums (device doubles) summed over the ranks in place, on the
  // context's stream (an NCCL all-reduce), `world` ranks of equal batch.
  void set_bn_sums_reducer(std::function<void(double*, std::size_t)> reducer, int world);
  // Called with each parameter whose gradient backward() has finished (bucketed
  // gradient all-reduce overlapping the backward pass).
  void set_grad_ready_listener(std::function<void(int)> listener) { grad_ready_ = std::move(listener); }


 private:
  struct OpState;
  template <typename T>
  void forward_op(OpState& op, Mode mode);
  template <typename T>
  void backward_op(OpState& op);
  template <typename T>
  void run_forward(Mode mode);
  template <typename T>
  void run_backward();

  void* value(int tensor) { return values_.data() + value_offsets_[static_cast<std::size_t>(tensor)]; }
  void* grad(int tensor) { return grads_.data() + graph_->grad_offset(tensor) * kernels::dtype_size(dtype_); }
  std::size_t numel(int tensor) const { return graph_->shape(tensor).numel(); }
  // The CPU Graph's fan-in rule: the tensor's own buffer if no op wrote it yet in this
  // pass, else the scratch buffer, added in by grad_commit.
  void* grad_target(int tensor);
  // Whether the gradient buffers of two tensors share memory in the arena.
  bool grad_overlaps(int a, int b) const;
  template <typename T>
  void grad_commit(int tensor, void* written);
  // Parameter gradients (fp32): overwrite when fresh, else add.
  template <typename T>
  void param_grad_write(int param, const T* source, std::size_t count);

  kernels::CudaContext& context_;
  CudaParams& params_;
  kernels::DType dtype_;
  std::unique_ptr<Graph> graph_;  // ops and shapes, no host storage
  std::vector<int> strides_;
  std::vector<std::unique_ptr<OpState>> ops_;
  std::vector<std::size_t> value_offsets_;  // bytes, per tensor
  kernels::DeviceArray<unsigned char> values_;
  kernels::DeviceArray<unsigned char> grads_;
  kernels::DeviceArray<unsigned char> scratch_;        // one activation gradient in flight
  kernels::DeviceArray<unsigned char> param_scratch_;  // one conv weight gradient (dtype)
  kernels::DeviceArray<float> float_scratch_;          // bias / BN parameter gradients
  std::vector<char> grad_written_;
  std::function<void(double*, std::size_t)> bn_reducer_;
  int bn_world_ = 1;
  std::function<void(int)> grad_ready_;
  bool trainable_ = true;
};

}  // namespace shrike::model
