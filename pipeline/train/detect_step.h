// pipeline/train/detect_step.h
//
// One forward-backward pass of a detector on a batch: the graph in training mode
// (batch statistics), the v8 detection loss on the three head maps, and the backward
// pass, which accumulates d(total)/d(parameter) into the model's gradient buffer
// (call params().zero_grads() before the first micro-batch of an optimizer step).
// `shrike debug step` and the trainer both go through here.
#pragma once

#include <span>

#include "kernels/detect_loss.h"
#include "pipeline/dist/communicator.h"
#include "pipeline/model/model.h"

namespace shrike::train {

struct StepLoss {
  double box = 0, cls = 0, dfl = 0;  // gains applied, as logged
  double total = 0;                  // (box + cls + dfl) * batch: the value differentiated
};

// images: (shape.n, 3, shape.h, shape.w) in 0..1; targets: (num_targets, 6) rows
// [image_index, class, cx, cy, w, h] normalised. With `backward` false only the loss
// is computed (validation loss), in the given mode.
//
// Data parallelism: with `comm` (world > 1) the loss normaliser (the target-score sum)
// is summed over the ranks before it divides and the total is scaled by the global
// batch, so the gradients summed over ranks equal one process's over the global batch
// (the reference normalises per rank); the returned items are summed over ranks, which
// makes them the single-process items.
StepLoss detect_forward_backward(model::Model& model, const float* images, kernels::Shape4 shape,
                                 std::span<const float> targets, bool backward = true,
                                 model::Mode mode = model::Mode::kTrain, dist::Communicator* comm = nullptr,
                                 int global_batch = 0);

kernels::DetectLossConfig loss_config_for(const model::Model& model);

}  // namespace shrike::train
