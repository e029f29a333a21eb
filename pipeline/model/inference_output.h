// pipeline/model/inference_output.h
//
// The reference's inference output computed by shrike's own engine: an eval-mode
// forward (BatchNorm running statistics, not folded) and the Detect decode
// (kernels/detect_decode.h), returned in the reference's layout (B, 4 + nc, A) with
// rows cx, cy, w, h (input pixels) and sigmoid class scores. It is what an exported
// ONNX model must reproduce (`shrike debug forward`, the ONNX Runtime tests) and
// what the PyTorch reference model's eval forward returns.
#pragma once

#include <span>
#include <vector>

#include "pipeline/model/model.h"

namespace shrike::model {

struct InferenceOutput {
  int batch = 0, rows = 0;  // rows = 4 + nc
  std::int64_t anchors = 0;
  std::vector<float> values;  // (batch, rows, anchors)
};

// images: (B, 3, H, W) float RGB in 0..1; H and W multiples of the largest stride.
InferenceOutput run_inference(Model& model, Shape4 shape, std::span<const float> images);

}  // namespace shrike::model
