// pipeline/model/inference_output.cpp: eval forward + decode, transposed to (B, 4 + nc, A).
#include "pipeline/model/inference_output.h"

#include "kernels/detect_decode.h"
#include "pipeline/core/error.h"
#include "pipeline/model/modules.h"

namespace shrike::model {

InferenceOutput run_inference(Model& model, Shape4 shape, std::span<const float> images) {
  if (shape.c != 3 || images.size() != shape.numel()) {
    fail_user("the input holds {} values for shape {}; expected (B, 3, H, W) float RGB", images.size(), shape.str());
  }
  Graph& graph = model.graph(shape, GraphStorage::kInference);
  graph.forward(images.data(), Mode::kEval);
  std::vector<kernels::HeadLevel<float>> levels;
  for (std::size_t l = 0; l < graph.outputs().size(); ++l) {
    const Shape4 s = graph.shape(graph.outputs()[l]);
    levels.push_back({graph.value(graph.outputs()[l]), s.h, s.w, model.strides()[l]});
  }
  InferenceOutput out;
  out.batch = shape.n;
  out.rows = 4 + model.nc();
  out.anchors = static_cast<std::int64_t>(kernels::detect_anchor_count<float>(levels));
  const std::size_t per_image = static_cast<std::size_t>(out.anchors) * static_cast<std::size_t>(out.rows);
  std::vector<float> anchor_major(per_image * static_cast<std::size_t>(shape.n));  // (B, A, rows)
  kernels::detect_decode_cpu<float>(levels, shape.n, model.nc(), kRegMax, anchor_major.data());
  out.values.resize(anchor_major.size());
  for (int b = 0; b < shape.n; ++b) {
    const float* src = anchor_major.data() + static_cast<std::size_t>(b) * per_image;
    float* dst = out.values.data() + static_cast<std::size_t>(b) * per_image;
    for (std::int64_t a = 0; a < out.anchors; ++a) {
      for (int r = 0; r < out.rows; ++r) {
        dst[static_cast<std::size_t>(r) * static_cast<std::size_t>(out.anchors) + static_cast<std::size_t>(a)] =
            src[static_cast<std::size_t>(a) * static_cast<std::size_t>(out.rows) + static_cast<std::size_t>(r)];
      }
    }
  }
  return out;
}

}  // namespace shrike::model
