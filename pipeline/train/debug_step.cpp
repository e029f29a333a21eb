// pipeline/train/debug_step.cpp: reading the batch, running the step, writing results.
#include "pipeline/train/debug_step.h"

#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/data/hdf5_check.h"
#include "pipeline/train/device_training.h"
#include "pipeline/train/ema.h"
#include "pipeline/train/optimizer.h"

namespace shrike::train {

namespace fs = std::filesystem;
using data::H5Handle;

ParityBatch read_parity_batch(const fs::path& path) {
  data::silence_hdf5_error_printing();
  const std::string where = path.string();
  H5Handle file = data::open_hdf5_readonly(where, "batch file");
  for (const char* name : {"images", "targets"}) {
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0) {
      fail_user("{} has no /{} dataset: a batch file holds /images (B,3,H,W) and /targets (M,6)", where, name);
    }
  }
  ParityBatch batch;
  std::vector<hsize_t> image_dims = data::dataset_dims(file, "images", where);
  if (image_dims.size() != 4 || image_dims[1] != 3) fail_user("{}: /images must be (B, 3, H, W)", where);
  batch.shape = {static_cast<int>(image_dims[0]), 3, static_cast<int>(image_dims[2]), static_cast<int>(image_dims[3])};
  batch.images.resize(batch.shape.numel());
  data::read_dataset(file, "images", H5T_NATIVE_FLOAT, batch.images.data(), where);
  std::vector<hsize_t> target_dims = data::dataset_dims(file, "targets", where);
  const bool empty = !target_dims.empty() && target_dims[0] == 0;
  if (!empty && (target_dims.size() != 2 || target_dims[1] != 6)) {
    fail_user("{}: /targets must be (M, 6) rows [image_index, class, cx, cy, w, h]", where);
  }
  batch.targets.resize(empty ? 0 : target_dims[0] * 6);
  if (!empty) data::read_dataset(file, "targets", H5T_NATIVE_FLOAT, batch.targets.data(), where);
  return batch;
}

StepLoss run_debug_step(model::Model& model, const ParityBatch& batch) {
  model.params().zero_grads();
  return detect_forward_backward(model, batch.images.data(), batch.shape, batch.targets, true, model::Mode::kTrain);
}

StepLoss run_debug_step_on_device(model::Model& model, const ParityBatch& batch, int device, bool amp,
                                  std::vector<std::vector<float>>& heads) {
  model.params().zero_grads();
  std::unique_ptr<DeviceTraining> training = make_cuda_training(device, model, nullptr, nullptr, amp);
  const StepLoss loss = training->forward_backward(batch.images.data(), batch.shape, batch.targets);
  heads = training->head_maps(batch.shape);
  training->sync_to_host();
  return loss;
}

void write_debug_step(const fs::path& path, model::Model& model, const ParityBatch& batch, const StepLoss& loss,
                      const std::vector<std::vector<float>>* heads) {
  data::silence_hdf5_error_printing();
  const fs::path temp = temporary_sibling(path);
  const std::string where = path.string();
  model::ParamStore& params = model.params();
  model::Graph& graph = model.graph(batch.shape);
  {
    H5Handle file(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    if (file.get() < 0) fail_user("cannot create {}: is the folder writable?", temp.string());
    H5Handle outputs(H5_CHECK(H5Gcreate2(file, "outputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where));
    const char* level_names[] = {"p3", "p4", "p5"};
    for (std::size_t l = 0; l < graph.outputs().size() && l < 3; ++l) {
      const kernels::Shape4 s = graph.shape(graph.outputs()[l]);
      data::write_dataset(outputs, level_names[l], H5T_IEEE_F32LE,
                          {static_cast<hsize_t>(s.n), static_cast<hsize_t>(s.c), static_cast<hsize_t>(s.h),
                           static_cast<hsize_t>(s.w)},
                          heads != nullptr ? heads->at(l).data() : graph.value(graph.outputs()[l]), where);
    }
    const float items[3] = {static_cast<float>(loss.box), static_cast<float>(loss.cls), static_cast<float>(loss.dfl)};
    data::write_dataset(file, "loss", H5T_IEEE_F32LE, {3}, items, where);
    const float total = static_cast<float>(loss.total);
    data::write_dataset(file, "loss_total", H5T_IEEE_F32LE, {}, &total, where);
    H5Handle grads(H5_CHECK(H5Gcreate2(file, "grads", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where));
    H5Handle state(H5_CHECK(H5Gcreate2(file, "state_after", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where));
    for (int i = 0; i < static_cast<int>(params.entries().size()); ++i) {
      const model::TensorEntry& e = params.entry(i);
      std::vector<hsize_t> dims(e.shape.begin(), e.shape.end());
      if (model::is_trainable(e.role)) {
        data::write_dataset(grads, e.name.c_str(), H5T_IEEE_F32LE, dims, params.grad(i), where);
      } else if (e.role == model::TensorRole::kRunningMean || e.role == model::TensorRole::kRunningVar) {
        data::write_dataset(state, e.name.c_str(), H5T_IEEE_F32LE, dims, params.value(i), where);
      } else if (e.role == model::TensorRole::kCounter) {
        data::write_dataset(state, e.name.c_str(), H5T_STD_I64LE, dims, params.counter(i), where);
      }
    }
    H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL), where);
  }
  fsync_path(temp);
  rename_durably(temp, path);
}

}  // namespace shrike::train
