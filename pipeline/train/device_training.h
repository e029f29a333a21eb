// pipeline/train/device_training.h
//
// The trainer's view of an accelerator: the step, the optimizer update and the host
// syncs that CudaTraining (cuda_training.h) implements on a GPU. The trainer holds one
// of these when `device` resolves to a GPU and otherwise runs the CPU engine; this
// interface keeps the trainer free of CUDA types, so it builds the same with and
// without the CUDA backend (device_training_none.cpp explains the missing backend).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/nms.h"
#include "pipeline/data/augment.h"
#include "pipeline/dist/communicator.h"
#include "pipeline/model/model.h"
#include "pipeline/train/detect_step.h"
#include "pipeline/train/ema.h"
#include "pipeline/train/experiment.h"
#include "pipeline/train/optimizer.h"

namespace shrike::train {

class DeviceTraining {
 public:
  virtual ~DeviceTraining() = default;
  virtual std::string description() const = 0;
  // Data parallelism: `device_comm` (NCCL) sums device buffers, `host_comm` (MPI) the
  // loss items; the loss is scaled by the global batch; sync_bn sums BatchNorm
  // statistics over the ranks.
  virtual void set_communicators(dist::Communicator* device_comm, dist::Communicator* host_comm, int global_batch,
                                 bool sync_bn) = 0;
  virtual StepLoss forward_backward(const float* images, kernels::Shape4 shape, std::span<const float> targets,
                                    bool backward = true, model::Mode mode = model::Mode::kTrain) = 0;
  // The same from a device uint8 (n, h, w, 3) batch (the GPU data path, benchmarks).
  virtual StepLoss forward_backward_u8(const unsigned char* device_pixels, kernels::Shape4 shape,
                                       std::span<const float> targets, bool backward = true,
                                       model::Mode mode = model::Mode::kTrain) = 0;
  // The same from a batch of augmentation recipes (a TrainLoader with recipes_only):
  // mosaic, warp, HSV, flips and letterbox run on the GPU (the GPU data path).
  virtual StepLoss forward_backward_recipes(const std::vector<data::TrainRecipe>& recipes, kernels::Shape4 shape,
                                            std::span<const float> targets) = 0;
  // Validation after an eval forward pass at `shape`: the Detect decode and NMS on the
  // device (kernels/detect_decode_cuda.h, nms_cuda.h); per image, boxes in input pixels.
  virtual std::vector<std::vector<kernels::Detection>> detections(kernels::Shape4 shape,
                                                                  const kernels::NmsConfig& config) = 0;
  // Host fp32 copies of the head maps of the last forward pass at `shape` (debug step).
  virtual std::vector<std::vector<float>> head_maps(kernels::Shape4 shape) = 0;
  // All-reduce (unless `reduced`: the gradient buckets did it during backward), clip,
  // update, zero the gradients, EMA. Returns the gradient norm.
  virtual double optimizer_step(double max_norm = 10.0, bool reduced = false) = 0;
  // Overlapped data parallelism: the device gradient buffer (trainable order) that
  // dist::GradientBuckets reduces, and the listener told each parameter whose gradient
  // the backward pass has queued (every graph, also later ones).
  virtual std::span<float> device_gradients() = 0;
  virtual void set_grad_ready_listener(std::function<void(int)> listener) = 0;
  virtual void sync_to_host() = 0;
  virtual void sync_ema_to_host() = 0;  // the EMA alone (what validation reads)
  virtual void sync_from_host() = 0;
  virtual std::size_t peak_memory_bytes() const = 0;
  virtual std::string device_uuid() const = 0;  // "GPU-xxxxxxxx-...", for NVML
};

// The CUDA device `device` says to train on: -1 for the CPU. "auto": device 0 when a
// GPU is usable (the node-local rank's under data parallelism, `local_rank`), else the
// CPU; "cpu"; "cuda" (as auto, but an error without a GPU); "cuda:N". UserError naming
// the key for anything else or a device that does not exist.
int resolve_device(const std::string& device, int local_rank);

// A GPU trainer for the model, optimizer and EMA (UserError in builds without CUDA).
// Without an optimizer and EMA (nullptr), optimizer_step() is an internal error (debug
// steps); `gradients` false also leaves out all gradient memory: forward passes and
// losses only (validation).
std::unique_ptr<DeviceTraining> make_cuda_training(int device, model::Model& model, Optimizer* optimizer,
                                                   ModelEma* ema, bool amp, bool gradients = true);

}  // namespace shrike::train
