// pipeline/train/device_training_none.cpp: builds without the CUDA backend.
#include "pipeline/core/error.h"
#include "pipeline/train/device_training.h"

namespace shrike::train {

std::unique_ptr<DeviceTraining> make_cuda_training(int device, model::Model&, Optimizer*, ModelEma*, bool, bool) {
  fail_user("device=cuda:{}: this shrike was built without the CUDA backend (configure with -DSHRIKE_CUDA=ON "
            "where the CUDA toolkit, cuDNN and NCCL are installed), or train with device=cpu",
            device);
}

}  // namespace shrike::train
