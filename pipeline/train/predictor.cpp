// pipeline/train/predictor.cpp: letterbox, eval forward, decode, NMS and mapping back
// for one image (see predictor.h).
#include "pipeline/train/predictor.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "kernels/detect_decode.h"
#include "pipeline/data/batch_loader.h"
#include "pipeline/model/modules.h"

namespace shrike::train {

namespace {

// The reference's LetterBox padding split: (top, bottom) = (round(d/2 - 0.1), round(d/2 + 0.1)).
void split_padding(int total, int* first, int* second) {
  const double half = total / 2.0;
  *first = static_cast<int>(std::nearbyint(half - 0.1));
  *second = static_cast<int>(std::nearbyint(half + 0.1));
}

std::string class_name(std::span<const std::string> names, int cls) {
  if (cls >= 0 && static_cast<std::size_t>(cls) < names.size()) return names[static_cast<std::size_t>(cls)];
  return fmt::format("class{}", cls);
}

}  // namespace

int imgsz_for_stride(int imgsz, int stride, const std::function<void(const std::string&)>& warn) {
  const int rounded = std::max(stride, (imgsz + stride - 1) / stride * stride);
  if (rounded != imgsz && warn) {
    warn(fmt::format("warning: imgsz={} must be a multiple of the model's largest stride {}; using imgsz={}", imgsz,
                     stride, rounded));
  }
  return rounded;
}

kernels::LetterboxGeometry prediction_letterbox(int src_h, int src_w, int imgsz, int stride) {
  kernels::LetterboxGeometry g;
  g.ratio = std::min(static_cast<double>(imgsz) / src_h, static_cast<double>(imgsz) / src_w);
  // Python's round(): half to even, which nearbyint gives in the default rounding mode.
  g.resized_w = static_cast<int>(std::nearbyint(src_w * g.ratio));
  g.resized_h = static_cast<int>(std::nearbyint(src_h * g.ratio));
  const int pad_w = ((imgsz - g.resized_w) % stride + stride) % stride;  // np.mod: non-negative
  const int pad_h = ((imgsz - g.resized_h) % stride + stride) % stride;
  split_padding(pad_w, &g.left, &g.right);
  split_padding(pad_h, &g.top, &g.bottom);
  g.out_h = g.top + g.resized_h + g.bottom;
  g.out_w = g.left + g.resized_w + g.right;
  return g;
}

PredictionInput prepare_prediction_input(const data::RgbImage& image, const kernels::LetterboxGeometry& geometry) {
  std::vector<std::uint8_t> canvas(static_cast<std::size_t>(geometry.out_h) * geometry.out_w * 3);
  kernels::letterbox_u8_cpu(canvas.data(), geometry, image.pixels.data(), image.height, image.width);
  PredictionInput input;
  input.shape = {1, 3, geometry.out_h, geometry.out_w};
  input.images.resize(input.shape.numel());
  data::hwc_u8_to_nchw_f32(input.images.data(), 0, canvas.data(), geometry.out_h, geometry.out_w);
  return input;
}

std::vector<kernels::Detection> detect_input(model::Model& model, const PredictionInput& input,
                                             const kernels::NmsConfig& nms) {
  model::Graph& graph = model.graph(input.shape, model::GraphStorage::kInference);
  graph.forward(input.images.data(), model::Mode::kEval);
  std::vector<kernels::HeadLevel<float>> levels;
  for (std::size_t l = 0; l < graph.outputs().size(); ++l) {
    const kernels::Shape4 s = graph.shape(graph.outputs()[l]);
    levels.push_back({graph.value(graph.outputs()[l]), s.h, s.w, model.strides()[l]});
  }
  const std::size_t anchors = kernels::detect_anchor_count<float>(levels);
  std::vector<float> decoded(anchors * static_cast<std::size_t>(4 + model.nc()));  // (1, A, 4 + nc)
  kernels::detect_decode_cpu<float>(levels, 1, model.nc(), model::kRegMax, decoded.data());
  return kernels::non_max_suppression_image_cpu(decoded.data(), static_cast<int>(anchors), model.nc(), nms);
}

ImagePrediction predict_letterboxed(model::Model& model, std::span<const std::string> names,
                                    const data::RgbImage& image, const kernels::LetterboxGeometry& geometry,
                                    const LetterboxMapping& mapping, const PredictSettings& settings) {
  kernels::NmsConfig nms;
  nms.conf_thres = settings.conf;
  nms.iou_thres = settings.iou;
  nms.max_det = settings.max_det;
  std::vector<kernels::Detection> found = detect_input(model, prepare_prediction_input(image, geometry), nms);
  scale_to_original(found, mapping);  // (v - pad) / gain, clipped to the original image
  ImagePrediction prediction;
  prediction.width = image.width;
  prediction.height = image.height;
  for (const kernels::Detection& d : found) {
    prediction.detections.push_back({d.x1, d.y1, d.x2, d.y2, d.score, d.cls, class_name(names, d.cls)});
  }
  return prediction;
}

ImagePrediction predict_image(model::Model& model, std::span<const std::string> names, const data::RgbImage& image,
                              const PredictSettings& settings) {
  const int stride = *std::max_element(model.strides().begin(), model.strides().end());
  const kernels::LetterboxGeometry g = prediction_letterbox(image.height, image.width, settings.imgsz, stride);
  const LetterboxMapping mapping = letterbox_mapping_for(g.out_w, g.out_h, image.width, image.height);
  return predict_letterboxed(model, names, image, g, mapping, settings);
}

ImagePrediction predict_file(model::Model& model, std::span<const std::string> names, const std::string& path,
                             const PredictSettings& settings) {
  const std::vector<std::uint8_t> bytes = data::read_file_bytes(path);
  const data::RgbImage image = data::decode_image(bytes, path);
  return predict_image(model, names, image, settings);
}

}  // namespace shrike::train
