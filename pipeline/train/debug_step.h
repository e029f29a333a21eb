// pipeline/train/debug_step.h
//
// The parity contract every numerical comparison with PyTorch goes through
// (DESIGN.md § File contracts, "Parity batch"): weights file + batch file in, raw head
// outputs + loss items + total + every gradient out, in training mode (batch
// statistics). Input batch: /images float32 (B,3,H,W) in 0..1, /targets float32 (M,6)
// [image_index, class, cx, cy, w, h]. Output: /outputs/p3, /outputs/p4, /outputs/p5,
// /loss [box, cls, dfl], /loss_total, /grads/<name> for every trainable parameter, and
// /state_after/<name> for the BatchNorm running statistics after the step.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "kernels/tensor.h"
#include "pipeline/model/model.h"
#include "pipeline/train/detect_step.h"

namespace shrike::train {

struct ParityBatch {
  kernels::Shape4 shape;
  std::vector<float> images;
  std::vector<float> targets;  // rows of 6
};

ParityBatch read_parity_batch(const std::filesystem::path& path);

// Zeroes the gradients, runs one training-mode forward-backward pass.
StepLoss run_debug_step(model::Model& model, const ParityBatch& batch);

// The same step on CUDA device `device` (amp: bf16): gradients, BatchNorm statistics
// and counters come back into the host model, the head maps into `heads` (fp32).
StepLoss run_debug_step_on_device(model::Model& model, const ParityBatch& batch, int device, bool amp,
                                  std::vector<std::vector<float>>& heads);

// Writes the output file (atomically) from the model's state after run_debug_step; the
// head maps from the model's CPU graph, or from `heads` after a device step.
void write_debug_step(const std::filesystem::path& path, model::Model& model, const ParityBatch& batch,
                      const StepLoss& loss, const std::vector<std::vector<float>>* heads = nullptr);

}  // namespace shrike::train
