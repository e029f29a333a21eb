// pipeline/train/cuda_training.cpp: the GPU step, optimizer, EMA and host syncs.
#include "pipeline/train/cuda_training.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/device.h"
#include "kernels/detect_decode_cuda.h"
#include "kernels/elementwise_cuda.h"
#include "kernels/nms_cuda.h"
#include "kernels/optimizer_cuda.h"
#include "pipeline/core/error.h"
#include "pipeline/model/modules.h"
#include "pipeline/train/gpu_stats.h"

namespace shrike::train {

using kernels::bf16;
using kernels::DeviceArray;
using kernels::DType;

namespace {
constexpr std::size_t kCachedShapes = 3;  // the full batch, the last partial one, spare

}  // namespace

// What one batch shape needs: its graph, its loss, fp32 head maps and their gradients.
struct CudaTraining::ShapeState {
  kernels::Shape4 shape;
  std::unique_ptr<model::CudaGraph> graph;
  std::unique_ptr<kernels::DetectLossCuda> loss;
  std::vector<DeviceArray<float>> heads, head_grads;  // fp32 copies when the graph is bf16
  DeviceArray<float> items;                           // box, cls, dfl, total
  DeviceArray<float> decoded;                         // validation: (batch, anchors, 4 + nc)
};

CudaTraining::CudaTraining(int device, model::Model& model, Optimizer* optimizer, ModelEma* ema, bool amp,
                           bool gradients)
    : model_(model), optimizer_(optimizer), ema_(ema), dtype_(amp ? DType::kBF16 : DType::kF32), gradients_(gradients) {
  if (device < 0 || device >= kernels::cuda_device_count()) {
    fail_user("device=cuda:{}: this process sees {} CUDA device(s) ({}); pick one of them or device=cpu", device,
              kernels::cuda_device_count(), kernels::cuda_unavailable_reason());
  }
  context_ = std::make_unique<kernels::CudaContext>(device);
  params_ = std::make_unique<model::CudaParams>(*context_, model.params(), amp);
  if (optimizer_ != nullptr) {
    const std::size_t trainable = params_->trainable_numel();
    state_a_.resize(trainable);
    if (optimizer_->kind() != OptimizerKind::kSgd) state_b_.resize(trainable);
    spans_.resize(optimizer_->spans().size());
    spans_.upload(optimizer_->spans().data(), optimizer_->spans().size(), context_->stream());
    norm_.resize(1);
    norm_scratch_.resize(kernels::sum_squares_scratch_size(trainable));
  }
  if (ema_ != nullptr) ema_values_.resize(params_->float_numel());
  sync_from_host();
}

CudaTraining::~CudaTraining() = default;

std::string CudaTraining::description() const {
  return fmt::format("{} {}", kernels::cuda_device_description(context_->device()),
                     dtype_ == DType::kBF16 ? "bf16 (amp)" : "fp32");
}

void CudaTraining::set_communicators(dist::Communicator* device_comm, dist::Communicator* host_comm,
                                     int global_batch, bool sync_bn) {
  device_comm_ = device_comm;
  host_comm_ = host_comm;
  if (device_comm_ != nullptr) device_comm_->set_producer_stream(context_->stream());
  global_batch_ = global_batch;
  sync_bn_ = sync_bn;
  shapes_.clear();  // losses are built with the scale of the new setting
}

CudaTraining::ShapeState& CudaTraining::state_for(kernels::Shape4 shape) {
  for (auto it = shapes_.begin(); it != shapes_.end(); ++it) {
    if ((*it)->shape == shape) {
      shapes_.splice(shapes_.begin(), shapes_, it);
      return *shapes_.front();
    }
  }
  try {
    auto state = std::make_unique<ShapeState>();
    state->shape = shape;
    state->graph = std::make_unique<model::CudaGraph>(*context_, model_.spec(), *params_, shape, dtype_,
                                                      /*trainable=*/gradients_);
    if (grad_ready_) state->graph->set_grad_ready_listener(grad_ready_);
    if (distributed() && sync_bn_) {
      state->graph->set_bn_sums_reducer(
          [this](double* sums, std::size_t count) {
            context_->synchronize();  // the sums are written on the compute stream
            device_comm_->all_reduce(sums, count, dist::DataType::kFloat64, dist::ReduceOp::kSum);
          },
          device_comm_->world());
    }
    std::vector<kernels::LevelShape> levels;
    for (int l = 0; l < state->graph->num_outputs(); ++l) {
      const kernels::Shape4 s = state->graph->output_shape(l);
      levels.push_back({s.h, s.w, state->graph->strides()[static_cast<std::size_t>(l)]});
      if (dtype_ == DType::kBF16) {
        state->heads.emplace_back(s.numel());
        if (gradients_) state->head_grads.emplace_back(s.numel());
      }
    }
    kernels::DetectLossConfig config = loss_config_for(model_);
    if (distributed()) config.total_scale = global_batch_ > 0 ? global_batch_ : shape.n * device_comm_->world();
    state->loss = std::make_unique<kernels::DetectLossCuda>(config, shape.n, levels);
    state->items.resize(4);
    shapes_.push_front(std::move(state));
    if (shapes_.size() > kCachedShapes) shapes_.pop_back();
    return *shapes_.front();
  } catch (const kernels::CudaError& error) {
    if (error.out_of_memory()) rethrow_out_of_memory(error, shape);
    throw;
  }
}

void CudaTraining::rethrow_out_of_memory(const std::exception& error, kernels::Shape4 shape) const {
  fail_user("out of GPU memory training a batch of {} images of {}x{} ({}) on {}: {}. Use a smaller batch "
            "(batch={}) or imgsz, or amp=True for half the activation memory",
            shape.n, shape.h, shape.w, kernels::dtype_name(dtype_),
            kernels::cuda_device_description(context_->device()), error.what(), std::max(1, shape.n / 2));
}

StepLoss CudaTraining::forward_backward(const float* images, kernels::Shape4 shape, std::span<const float> targets,
                                        bool backward, model::Mode mode) {
  ShapeState& state = state_for(shape);
  cudaStream_t stream = context_->stream();
  if (dtype_ == DType::kF32) {
    CUDA_CHECK(cudaMemcpyAsync(state.graph->input(), images, shape.numel() * sizeof(float), cudaMemcpyHostToDevice,
                               stream));
  } else {
    staging_.resize(std::max(staging_.size(), shape.numel()));
    staging_.upload(images, shape.numel(), stream);
    kernels::cast_cuda<float, bf16>(static_cast<bf16*>(state.graph->input()), staging_.data(), shape.numel(), stream);
  }
  return run_step(state, targets, backward, mode);
}

StepLoss CudaTraining::forward_backward_u8(const unsigned char* device_pixels, kernels::Shape4 shape,
                                           std::span<const float> targets, bool backward, model::Mode mode) {
  ShapeState& state = state_for(shape);
  if (dtype_ == DType::kF32) {
    kernels::images_u8_to_nchw_cuda<float>(static_cast<float*>(state.graph->input()), device_pixels, shape.n, shape.h,
                                           shape.w, context_->stream());
  } else {
    kernels::images_u8_to_nchw_cuda<bf16>(static_cast<bf16*>(state.graph->input()), device_pixels, shape.n, shape.h,
                                          shape.w, context_->stream());
  }
  return run_step(state, targets, backward, mode);
}

StepLoss CudaTraining::forward_backward_recipes(const std::vector<data::TrainRecipe>& recipes,
                                                kernels::Shape4 shape, std::span<const float> targets) {
  if (recipes.size() != static_cast<std::size_t>(shape.n) || shape.h != shape.w) {
    fail_internal("{} recipes for a batch of shape {}", recipes.size(), shape.str());
  }
  if (!assembler_ || assembler_->imgsz() != shape.h) {
    assembler_ = std::make_unique<data::GpuBatchAssembler>(shape.h, context_->stream());
  }
  const unsigned char* pixels = assembler_->assemble(recipes);
  return forward_backward_u8(pixels, shape, targets);
}

std::vector<std::vector<kernels::Detection>> CudaTraining::detections(kernels::Shape4 shape,
                                                                      const kernels::NmsConfig& config) {
  ShapeState& state = state_for(shape);
  model::CudaGraph& graph = *state.graph;
  const int nc = model_.nc();
  std::size_t anchors = 0;
  for (int l = 0; l < graph.num_outputs(); ++l) anchors += graph.output_shape(l).plane();
  state.decoded.resize(static_cast<std::size_t>(shape.n) * anchors * static_cast<std::size_t>(4 + nc));
  auto decode = [&](auto tag) {
    using T = decltype(tag);
    std::vector<kernels::HeadLevel<T>> levels;
    for (int l = 0; l < graph.num_outputs(); ++l) {
      const kernels::Shape4 s = graph.output_shape(l);
      levels.push_back({static_cast<const T*>(graph.output(l)), s.h, s.w, graph.strides()[static_cast<std::size_t>(l)]});
    }
    kernels::detect_decode_cuda<T>(state.decoded.data(), std::span<const kernels::HeadLevel<T>>(levels), shape.n, nc,
                                   model::kRegMax, context_->stream());
  };
  if (dtype_ == DType::kBF16) {
    decode(bf16{});
  } else {
    decode(float{});
  }
  return kernels::non_max_suppression_cuda(state.decoded.data(), shape.n, static_cast<int>(anchors), nc, config,
                                           context_->stream());
}

std::vector<std::vector<float>> CudaTraining::head_maps(kernels::Shape4 shape) {
  ShapeState& state = state_for(shape);
  std::vector<std::vector<float>> maps;
  for (int l = 0; l < state.graph->num_outputs(); ++l) {
    const std::size_t n = state.graph->output_shape(l).numel();
    maps.emplace_back(n);
    if (dtype_ == DType::kBF16) {
      state.heads[static_cast<std::size_t>(l)].download(maps.back().data(), n, context_->stream());
    } else {
      CUDA_CHECK(cudaMemcpyAsync(maps.back().data(), state.graph->output(l), n * sizeof(float),
                                 cudaMemcpyDeviceToHost, context_->stream()));
    }
  }
  context_->synchronize();
  return maps;
}

StepLoss CudaTraining::run_step(ShapeState& state, std::span<const float> targets, bool backward,
                                model::Mode mode) {
  try {
    return run_step_unchecked(state, targets, backward, mode);
  } catch (const kernels::CudaError& error) {  // e.g. a convolution workspace that no longer fits
    if (error.out_of_memory()) rethrow_out_of_memory(error, state.shape);
    throw;
  }
}

StepLoss CudaTraining::run_step_unchecked(ShapeState& state, std::span<const float> targets, bool backward,
                                          model::Mode mode) {
  if (targets.size() % 6 != 0) fail_internal("targets must be rows of 6 values, got {} values", targets.size());
  if (backward && !gradients_) fail_internal("a backward pass on a forward-only CudaTraining");
  cudaStream_t stream = context_->stream();
  model::CudaGraph& graph = *state.graph;
  graph.forward(mode);
  const int levels = graph.num_outputs();
  std::vector<const float*> heads;
  std::vector<float*> grads;
  for (int l = 0; l < levels; ++l) {
    const std::size_t n = graph.output_shape(l).numel();
    if (dtype_ == DType::kBF16) {
      auto& head = state.heads[static_cast<std::size_t>(l)];
      kernels::cast_cuda<bf16, float>(head.data(), static_cast<const bf16*>(graph.output(l)), n, stream);
      heads.push_back(head.data());
      if (backward) grads.push_back(state.head_grads[static_cast<std::size_t>(l)].data());
    } else {
      heads.push_back(static_cast<const float*>(graph.output(l)));
      if (backward) grads.push_back(static_cast<float*>(graph.output_grad(l)));
    }
  }
  const int num_targets = static_cast<int>(targets.size() / 6);
  kernels::DetectLossCuda& loss = *state.loss;
  loss.assign(heads, targets.data(), num_targets, stream);
  if (distributed()) {  // the normaliser is the target-score sum of every rank
    context_->synchronize();
    device_comm_->all_reduce(loss.target_scores_sum_device(), 1, dist::DataType::kFloat64, dist::ReduceOp::kSum);
  }
  loss.compute(heads, grads, state.items.data(), stream);
  if (backward) {
    if (dtype_ == DType::kBF16) {
      for (int l = 0; l < levels; ++l) {
        kernels::cast_cuda<float, bf16>(static_cast<bf16*>(graph.output_grad(l)), grads[static_cast<std::size_t>(l)],
                                        graph.output_shape(l).numel(), stream);
      }
    }
    graph.backward();
  }
  float items[4];
  state.items.download(items, 4, stream);
  context_->synchronize();
  double sums[4] = {items[0], items[1], items[2], items[3]};
  if (distributed() && host_comm_ != nullptr) host_comm_->all_reduce(std::span<double>(sums, 4), dist::ReduceOp::kSum);
  return {sums[0], sums[1], sums[2], sums[3]};
}

void CudaTraining::set_grad_ready_listener(std::function<void(int)> listener) {
  grad_ready_ = std::move(listener);
  for (auto& state : shapes_) state->graph->set_grad_ready_listener(grad_ready_);
}

double CudaTraining::optimizer_step(double max_norm, bool reduced) {
  if (optimizer_ == nullptr || ema_ == nullptr) fail_internal("optimizer_step on a forward-only CudaTraining");
  cudaStream_t stream = context_->stream();
  const std::size_t n = params_->trainable_numel();
  if (distributed() && !reduced) {
    context_->synchronize();
    device_comm_->all_reduce(params_->grads(), n, dist::DataType::kFloat32, dist::ReduceOp::kSum);
  }
  kernels::sum_squares_cuda(norm_.data(), norm_scratch_.data(), params_->grads(), n, stream);
  kernels::clip_by_norm_cuda(params_->grads(), n, norm_.data(), max_norm, stream);
  optimizer_->set_step_count(optimizer_->step_count() + 1);
  const int spans = static_cast<int>(spans_.size());
  if (optimizer_->kind() == OptimizerKind::kSgd) {
    kernels::SgdGroupsCuda groups;
    for (int g = 0; g < kNumGroups; ++g) {
      groups.lr[g] = optimizer_->group(g).lr;
      groups.momentum[g] = optimizer_->group(g).momentum;
      groups.weight_decay[g] = optimizer_->group(g).weight_decay;
    }
    kernels::sgd_update_cuda(params_->values(), params_->grads(), state_a_.data(), spans_.data(), spans, groups,
                             /*nesterov=*/true, optimizer_->step_count() == 1, stream);
  } else {
    kernels::AdamGroupsCuda groups;
    for (int g = 0; g < kNumGroups; ++g) {
      groups.lr[g] = optimizer_->group(g).lr;
      groups.weight_decay[g] = optimizer_->group(g).weight_decay;
    }
    kernels::AdamSettings settings;
    settings.beta1 = optimizer_->config().momentum;
    settings.beta2 = optimizer_->config().beta2;
    settings.eps = optimizer_->config().eps;
    settings.decoupled_weight_decay = optimizer_->kind() == OptimizerKind::kAdamW;
    settings.step = optimizer_->step_count();
    kernels::adam_update_cuda(params_->values(), params_->grads(), state_a_.data(), state_b_.data(), spans_.data(),
                              spans, groups, settings, stream);
  }
  params_->zero_grads();
  ema_->set_updates(ema_->updates() + 1);
  kernels::ema_update_cuda(ema_values_.data(), params_->values(), params_->float_numel(),
                           ema_->decay_at(ema_->updates()), stream);
  params_->refresh_half();
  double sum_squares = 0;
  norm_.download(&sum_squares, 1, stream);
  context_->synchronize();
  return std::sqrt(sum_squares);
}

void CudaTraining::sync_to_host() {
  cudaStream_t stream = context_->stream();
  params_->download();
  if (ema_ != nullptr) ema_values_.download(ema_->float_state().data(), ema_values_.size(), stream);
  if (optimizer_ != nullptr) {
    const std::vector<std::string> names = optimizer_->state_names();
    if (!names.empty()) state_a_.download(optimizer_->state(names[0]).data(), state_a_.size(), stream);
    if (names.size() > 1) state_b_.download(optimizer_->state(names[1]).data(), state_b_.size(), stream);
  }
  params_->download_grads();  // an accumulation in progress (checkpoint mid-accumulation)
  context_->synchronize();
}

void CudaTraining::sync_ema_to_host() {
  if (ema_ == nullptr) return;
  ema_values_.download(ema_->float_state().data(), ema_values_.size(), context_->stream());
  context_->synchronize();
}

void CudaTraining::sync_from_host() {
  cudaStream_t stream = context_->stream();
  params_->upload();
  if (ema_ != nullptr) ema_values_.upload(ema_->float_state().data(), ema_values_.size(), stream);
  if (optimizer_ != nullptr) {
    const std::vector<std::string> names = optimizer_->state_names();
    if (!names.empty()) state_a_.upload(optimizer_->state(names[0]).data(), state_a_.size(), stream);
    if (names.size() > 1) state_b_.upload(optimizer_->state(names[1]).data(), state_b_.size(), stream);
  }
  if (gradients_) params_->upload_grads();  // a restored accumulation in progress, with its freshness
  context_->synchronize();
}

std::unique_ptr<DeviceTraining> make_cuda_training(int device, model::Model& model, Optimizer* optimizer,
                                                   ModelEma* ema, bool amp, bool gradients) {
  return std::make_unique<CudaTraining>(device, model, optimizer, ema, amp, gradients);
}

std::string CudaTraining::device_uuid() const {
  cudaDeviceProp properties{};
  CUDA_CHECK(cudaGetDeviceProperties(&properties, context_->device()));
  return format_gpu_uuid(properties.uuid.bytes);
}

std::size_t CudaTraining::peak_memory_bytes() const {
  std::size_t free_bytes = 0, total_bytes = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return total_bytes - free_bytes;
}

}  // namespace shrike::train
