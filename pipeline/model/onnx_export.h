// pipeline/model/onnx_export.h
//
// `shrike export --format onnx`: a Model to an ONNX file that deployment code written
// for the reference trainer's exports already reads (Ultralytics 8.3 `format=onnx`):
//   input  `images`  (1, 3, H, W) float32, RGB in 0..1 (NCHW);
//   output `output0` (1, 4 + nc, A) float32: rows cx, cy, w, h in input pixels, then
//          the sigmoid class scores; A = sum over the three levels of (H/s) * (W/s).
// The network is the model's eval-mode op graph, op by op, with every BatchNorm folded
// into the convolution before it (bn_folding.h), then the Detect decode (DFL softmax
// expectation through the frozen DFL conv, anchors and strides, dist2bbox xywh) as
// the reference's exporter traces it. `dynamic`: batch, height and width symbolic
// (anchors computed in the graph); H and W must then be multiples of 32 at run time.
// `half`: weights, input and output in float16, as the reference's GPU half export.
// Metadata props as the reference writes them (Python literals, which its
// AutoBackend evaluates): description, author, date, version, license, stride,
// task, batch, imgsz, names, args, channels.
// Opsets 13-17 (IR version 7 for 13-14, 8 for 15-17); default 17 with IR 8.
// Before writing, the model goes through libonnx's checker and strict shape
// inference; a failure there is an exporter bug, reported with the checker's message.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/model/model.h"

namespace shrike::model {

struct OnnxExportOptions {
  int height = 640, width = 640;  // multiples of the largest stride
  bool dynamic = false;
  bool half = false;
  int opset = 17;
};

inline constexpr int kMinOnnxOpset = 13;
inline constexpr int kMaxOnnxOpset = 17;  // what Debian's libonnx 1.12 knows

struct OnnxExportSummary {
  std::size_t nodes = 0;
  std::size_t initializers = 0;
  int folded_batchnorms = 0;
  std::size_t bytes = 0;
  std::vector<std::string> output_dims;  // "1", "8", "8400" or "batch", "anchors"
};

// The ONNX model (not yet checked). `names`: class names (nc of them).
onnx::ModelProto build_onnx_model(Model& model, const std::vector<std::string>& names, const OnnxExportOptions& options,
                                  OnnxExportSummary* summary = nullptr);

// libonnx's checker, then strict type and shape inference on a copy; throws
// InternalError with the checker's message when the model is invalid.
void check_onnx_model(const onnx::ModelProto& model);

// build, check, write atomically to `path`.
OnnxExportSummary export_onnx(Model& model, const std::vector<std::string>& names, const OnnxExportOptions& options,
                              const std::filesystem::path& path);

}  // namespace shrike::model
