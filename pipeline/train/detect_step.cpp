// pipeline/train/detect_step.cpp: graph forward, loss, graph backward.
#include "pipeline/train/detect_step.h"

#include <algorithm>
#include <vector>

#include "pipeline/core/error.h"

namespace shrike::train {

kernels::DetectLossConfig loss_config_for(const model::Model& model) {
  kernels::DetectLossConfig config;
  config.nc = model.nc();
  return config;
}

StepLoss detect_forward_backward(model::Model& model, const float* images, kernels::Shape4 shape,
                                 std::span<const float> targets, bool backward, model::Mode mode,
                                 dist::Communicator* comm, int global_batch) {
  if (targets.size() % 6 != 0) fail_internal("targets must be rows of 6 values, got {} values", targets.size());
  // A loss-only eval pass (validation) runs on an inference graph: no gradients, and
  // activations sharing memory by lifetime.
  const bool loss_only_eval = !backward && mode == model::Mode::kEval;
  model::Graph& graph = model.graph(shape, loss_only_eval ? model::GraphStorage::kInference : model::GraphStorage::kHost);
  graph.forward(images, mode);
  const std::vector<int>& outputs = graph.outputs();
  std::vector<kernels::HeadLevel<float>> levels;
  std::vector<float*> grads;
  for (std::size_t l = 0; l < outputs.size(); ++l) {
    const kernels::Shape4 s = graph.shape(outputs[l]);
    levels.push_back({graph.value(outputs[l]), s.h, s.w, model.strides()[l]});
    if (backward) grads.push_back(graph.output_grad(static_cast<int>(l)));
  }
  const int num_targets = static_cast<int>(targets.size() / 6);
  kernels::DetectLossConfig config = loss_config_for(model);
  const bool distributed = comm != nullptr && comm->world() > 1;
  if (!distributed) {
    kernels::DetectLossResult<float> loss = kernels::detect_loss_cpu<float>(
        levels, shape.n, targets.data(), num_targets, config, std::span<float* const>(grads));
    if (backward) graph.backward();
    return {loss.box, loss.cls, loss.dfl, loss.total};
  }
  kernels::DetectAssignment<float> assignment =
      kernels::assign_detect_targets_cpu<float>(levels, shape.n, targets.data(), num_targets, config);
  double raw_sum = assignment.target_scores_raw_sum;
  comm->all_reduce(std::span<double>(&raw_sum, 1), dist::ReduceOp::kSum);
  assignment.target_scores_sum = static_cast<float>(std::max(raw_sum, 1.0));
  config.total_scale = global_batch > 0 ? global_batch : shape.n * comm->world();
  kernels::DetectLossResult<float> loss = kernels::detect_loss_given_assignment_cpu<float>(
      levels, shape.n, assignment, config, std::span<float* const>(grads));
  if (backward) graph.backward();
  double items[4] = {loss.box, loss.cls, loss.dfl, loss.total};
  comm->all_reduce(std::span<double>(items, 4), dist::ReduceOp::kSum);
  return {items[0], items[1], items[2], items[3]};
}

}  // namespace shrike::train
