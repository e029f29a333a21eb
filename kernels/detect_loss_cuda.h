// kernels/detect_loss_cuda.h
//
// The v8 / YOLO11 detection loss entirely on the GPU (the twin of detect_loss.h): the
// anchors, the DFL decode of the predicted boxes, the task-aligned assigner (top-k by
// alignment metric inside GT boxes, one GT per anchor by highest IoU), the normalised
// target scores, and then the BCE class term, the CIoU box term and the DFL term with
// their gradients, without copying predictions to the host. Same two-step structure as
// the CPU version, so that data parallelism can all-reduce the target-score sum
// between the steps:
//   assign()  -> target_scores_sum_device() (a device double: this rank's raw sum; the
//                caller may all-reduce it in place) -> compute().
// Same semantics as the CPU reference (config.total_scale, the max(sum, 1) normaliser,
// the CIoU alpha without gradient); the test compares items and gradients with it.
// Heads are fp32 (the executor casts bf16 head maps to fp32 first).
#pragma once

#include <cuda_runtime.h>

#include <memory>
#include <span>

#include "kernels/detect_loss.h"

namespace shrike::kernels {

struct LevelShape {
  int h = 0, w = 0, stride = 0;
};

class DetectLossCuda {
 public:
  // Allocates the device state for `batch` images and these levels (anchors built once).
  DetectLossCuda(const DetectLossConfig& config, int batch, std::span<const LevelShape> levels);
  ~DetectLossCuda();
  DetectLossCuda(const DetectLossCuda&) = delete;
  DetectLossCuda& operator=(const DetectLossCuda&) = delete;

  // Host-side check of a batch's targets (rows [image, class, cx, cy, w, h]): throws
  // std::invalid_argument for an image index outside [0, batch) or a class outside
  // [0, nc), as the CPU reference does. assign() calls it.
  void validate_targets(const float* host_targets, int num_targets) const;

  // Step 1. heads[l]: device fp32 (batch, 4*reg_max + nc, h, w); host_targets:
  // (num_targets, 6) on the host (uploaded here, asynchronously, from an internal
  // pinned copy). Decodes boxes, assigns, builds target scores and the raw sum.
  void assign(std::span<const float* const> heads, const float* host_targets, int num_targets,
              cudaStream_t stream);
  // This rank's raw target-score sum (device double, written by assign()).
  double* target_scores_sum_device();

  // Step 2. grads[l]: device fp32 like heads[l], written (an empty span: loss only).
  // items: device float[4] = box, cls, dfl (gains applied, as logged) and total
  // ((box + cls + dfl) * scale, the value differentiated).
  void compute(std::span<const float* const> heads, std::span<float* const> grads, float* items,
               cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shrike::kernels
