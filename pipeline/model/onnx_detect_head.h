// pipeline/model/onnx_detect_head.h
//
// The Detect head's inference decode as ONNX nodes, the same computation as
// kernels/detect_decode.h and the reference's Detect._inference in export mode:
//   x = cat(maps reshaped to (B, 4*16 + nc, h*w), dim 2); box, cls = split(x, (64, nc), 1)
//   dist = conv1x1(softmax(box.view(B, 4, 16, A).transpose(2, 1), dim 1), DFL weight)
//   lt, rb = dist.chunk(2, 1); x1y1 = anchors - lt; x2y2 = anchors + rb
//   output0 = cat(cat((x1y1 + x2y2) / 2, x2y2 - x1y1) * strides, sigmoid(cls))
// Anchors (1, 2, A) and strides (1, A) are initializers for a fixed input size and
// are computed from the maps' shapes (Shape, Range, Expand) for a dynamic one.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "kernels/tensor.h"
#include "pipeline/model/onnx_graph_writer.h"

namespace shrike::model {

struct DetectHeadExport {
  std::vector<std::string> maps;        // ONNX names of the raw maps (B, 64 + nc, h, w)
  std::vector<kernels::Shape4> shapes;  // their shapes at the export size
  std::vector<int> strides;             // 8, 16, 32
  int nc = 0;
  int reg_max = 16;
  std::span<const float> dfl_weight;  // (1, reg_max, 1, 1)
  std::string scope;                  // "model.22"
  bool dynamic = false;
};

// Appends the decode; its last node writes `output_name` (B, 4 + nc, A).
void append_detect_decode(OnnxGraphWriter& writer, const DetectHeadExport& head, const std::string& output_name);

}  // namespace shrike::model
