// pipeline/train/cuda_training.h
//
// Training on one GPU (issue 6): what the trainer's step does on the CPU, done on the
// device with nothing but the batch going in and four loss values coming out:
//   images (host fp32 or device uint8) -> CudaGraph forward (bf16 with amp) ->
//   DetectLossCuda (assignment, loss and head gradients on the device) -> backward
//   into the fp32 gradient buffer -> [data parallelism: NCCL all-reduce] -> gradient
//   norm and clipping -> the optimizer's fused pass -> EMA -> bf16 weight copy.
// The host objects (ParamStore, Optimizer, ModelEma) keep the hyperparameters, step
// counts and the copy that checkpoints, validation and export read: sync_to_host()
// brings the device state back before any of those, sync_from_host() sends a loaded
// state to the device.
//
// Out of memory is reported with the batch size, the image size and what to change.
#pragma once

#include <cuda_runtime.h>

#include <list>
#include <memory>
#include <span>
#include <string>

#include "kernels/cuda_context.h"
#include "kernels/detect_loss_cuda.h"
#include "kernels/device_array.h"
#include "kernels/dtype.h"
#include "pipeline/data/gpu_augment.h"
#include "pipeline/dist/communicator.h"
#include "pipeline/model/cuda_graph.h"
#include "pipeline/model/cuda_params.h"
#include "pipeline/model/model.h"
#include "pipeline/train/detect_step.h"
#include "pipeline/train/device_training.h"
#include "pipeline/train/ema.h"
#include "pipeline/train/optimizer.h"

namespace shrike::train {

class CudaTraining : public DeviceTraining {
 public:
  // `device`: the CUDA device index. The host objects must outlive this one.
  CudaTraining(int device, model::Model& model, Optimizer* optimizer, ModelEma* ema, bool amp,
               bool gradients = true);
  ~CudaTraining() override;

  kernels::CudaContext& context() { return *context_; }
  model::CudaParams& params() { return *params_; }
  kernels::DType dtype() const { return dtype_; }
  std::string description() const override;  // "NVIDIA H100 ... bf16 (amp)"

  // Data parallelism: `device_comm` all-reduces device buffers (NCCL) on the
  // context's stream, `host_comm` the four loss items; the loss total is scaled by the
  // global batch so that the summed gradients equal one process's. Null when alone.
  void set_communicators(dist::Communicator* device_comm, dist::Communicator* host_comm, int global_batch,
                         bool sync_bn) override;

  // One forward-backward pass on a batch; gradients accumulate into the device buffer.
  // images: host (n, 3, h, w) in 0..1. Same semantics as detect_forward_backward.
  StepLoss forward_backward(const float* images, kernels::Shape4 shape, std::span<const float> targets,
                            bool backward = true, model::Mode mode = model::Mode::kTrain) override;
  // The same from a device uint8 (n, h, w, 3) batch (the GPU data path).
  StepLoss forward_backward_u8(const unsigned char* device_pixels, kernels::Shape4 shape,
                               std::span<const float> targets, bool backward = true,
                               model::Mode mode = model::Mode::kTrain) override;
  StepLoss forward_backward_recipes(const std::vector<data::TrainRecipe>& recipes, kernels::Shape4 shape,
                                    std::span<const float> targets) override;
  std::vector<std::vector<kernels::Detection>> detections(kernels::Shape4 shape,
                                                          const kernels::NmsConfig& config) override;
  std::vector<std::vector<float>> head_maps(kernels::Shape4 shape) override;

  // All-reduce (with peers), clip to max_norm, the optimizer step with the host
  // optimizer's current hyperparameters, zero gradients, EMA. Returns the norm.
  double optimizer_step(double max_norm = 10.0, bool reduced = false) override;
  std::span<float> device_gradients() override { return {params_->grads(), params_->trainable_numel()}; }
  void set_grad_ready_listener(std::function<void(int)> listener) override;

  void sync_to_host() override;    // parameters, EMA, optimizer state -> host objects
  void sync_ema_to_host() override;
  void sync_from_host() override;  // host objects -> device (after loading a checkpoint)
  std::size_t peak_memory_bytes() const override;
  std::string device_uuid() const override;

 private:
  struct ShapeState;
  ShapeState& state_for(kernels::Shape4 shape);
  StepLoss run_step(ShapeState& state, std::span<const float> targets, bool backward, model::Mode mode);
  StepLoss run_step_unchecked(ShapeState& state, std::span<const float> targets, bool backward, model::Mode mode);
  bool distributed() const { return device_comm_ != nullptr && device_comm_->world() > 1; }
  [[noreturn]] void rethrow_out_of_memory(const std::exception& error, kernels::Shape4 shape) const;

  model::Model& model_;
  Optimizer* optimizer_;  // null: forward passes only
  ModelEma* ema_;
  kernels::DType dtype_;
  bool gradients_;
  std::unique_ptr<kernels::CudaContext> context_;
  std::unique_ptr<model::CudaParams> params_;
  std::list<std::unique_ptr<ShapeState>> shapes_;  // most recently used first
  kernels::DeviceArray<float> state_a_, state_b_;  // optimizer state (momentum / exp_avg, exp_avg_sq)
  kernels::DeviceArray<kernels::UpdateSpan> spans_;
  kernels::DeviceArray<float> ema_values_;
  kernels::DeviceArray<double> norm_, norm_scratch_;
  kernels::DeviceArray<float> staging_;  // fp32 images before the cast to bf16
  std::unique_ptr<data::GpuBatchAssembler> assembler_;  // the GPU data path, made on first use
  dist::Communicator* device_comm_ = nullptr;
  dist::Communicator* host_comm_ = nullptr;
  int global_batch_ = 0;
  bool sync_bn_ = false;
  std::function<void(int)> grad_ready_;
};

}  // namespace shrike::train
