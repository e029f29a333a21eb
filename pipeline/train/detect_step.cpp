// pipeline/train/detect_step.cpp: graph forward, loss, graph backward.
#include "pipeline/train/detect_step.h"

#include <vector>

#include "pipeline/core/error.h"

namespace shrike::train {

kernels::DetectLossConfig loss_config_for(const model::Model& model) {
  kernels::DetectLossConfig config;
  config.nc = model.nc();
  return config;
}

StepLoss detect_forward_backward(model::Model& model, const float* images, kernels::Shape4 shape,
                                 std::span<const float> targets, bool backward, model::Mode mode) {
  if (targets.size() % 6 != 0) fail_internal("targets must be rows of 6 values, got {} values", targets.size());
  model::Graph& graph = model.graph(shape);
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
  kernels::DetectLossResult<float> loss = kernels::detect_loss_cpu<float>(
      levels, shape.n, targets.data(), num_targets, loss_config_for(model), std::span<float* const>(grads));
  if (backward) graph.backward();
  return {loss.box, loss.cls, loss.dfl, loss.total};
}

}  // namespace shrike::train
