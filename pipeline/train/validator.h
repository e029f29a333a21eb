// pipeline/train/validator.h
//
// Validation as the reference does it: a model in eval mode (BatchNorm running
// statistics; during training the EMA weights) over rectangular letterboxed batches,
// the head maps decoded (DFL expectation, sigmoid scores), NMS (multi-label, class
// offset, conf 0.001, IoU 0.7, max_det 300), predictions and labels mapped back to
// original image coordinates, and the metrics (P, R at max F1, mAP50, mAP50-95, per
// class). Also the validation losses (the v8 loss on the eval-mode outputs). Used by
// the trainer every epoch and by `shrike val` standalone.
//
// Distributed (a communicator with world > 1): rank r validates batches r, r+N, ...,
// and rank 0 gathers every batch's statistics and merges them in batch order, so the
// metrics are exactly those of one process (the reference validates on rank 0 alone
// while the other GPUs idle). Every rank must call it; only rank 0's result is filled.
#pragma once

#include <string>
#include <vector>

#include "pipeline/data/batch_loader.h"
#include "pipeline/dist/communicator.h"
#include "pipeline/model/model.h"
#include "pipeline/train/detection_metrics.h"
#include "pipeline/train/device_training.h"

namespace shrike::train {

struct ValidationSettings {
  float conf = 0.001f;
  double iou = 0.7;
  int max_det = 300;
  bool compute_loss = true;
  // GPU validation: the eval forward pass, the loss, the decode and NMS on this device
  // copy of the model being validated; the metrics on the host. Null: the CPU graph.
  DeviceTraining* device = nullptr;
};

struct ValidationResult {
  MetricsResult metrics;
  double box_loss = 0, cls_loss = 0, dfl_loss = 0;  // mean over batches, gains applied
  double seconds = 0;
  std::size_t images = 0;
};

ValidationResult run_validation(model::Model& model, const data::ValLoader& loader, const ValidationSettings& settings,
                                dist::Communicator* comm = nullptr);

}  // namespace shrike::train
