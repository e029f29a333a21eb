// pipeline/train/predictor.h
//
// Prediction on single images, as the reference's `yolo predict` does it (Ultralytics
// 8.3 DetectionPredictor): the image decoded upright (EXIF), letterboxed with
// LetterBox(auto=True, scaleup=True): resized so its long side is imgsz (bilinear),
// padded with grey 114 to the smallest stride multiple (minimal rectangle, centred);
// an eval forward (BatchNorm running statistics; a checkpoint's EMA weights, which
// model::load_model picks); the head maps decoded (kernels/detect_decode.h); NMS
// (kernels/nms.h, multi-label as the reference, conf 0.25, IoU 0.7, max_det 300);
// boxes mapped back to original pixels with ops.scale_boxes (recomputed gain and pad)
// and clipped. The network part is the validator's (pipeline/train/validator.cpp), so
// the same input gives the same boxes; only the letterbox rectangle differs (the
// validator pads batches to ceil(shape * imgsz / stride + 0.5) * stride).
// Used by `shrike predict` (pipeline/cli/cmd_predict.cpp).
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "kernels/augment.h"
#include "kernels/nms.h"
#include "kernels/tensor.h"
#include "pipeline/data/image_codec.h"
#include "pipeline/model/model.h"
#include "pipeline/train/detection_metrics.h"

namespace shrike::train {

struct PredictSettings {
  float conf = 0.25f;  // the reference's predict default (the validator uses 0.001)
  double iou = 0.7;
  int max_det = 300;
  int imgsz = 640;     // long side of the letterboxed input; a multiple of the stride
};

// One detection in original image pixels (x1, y1, x2, y2 clipped to the image).
struct NamedDetection {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float score = 0;
  int cls = 0;
  std::string name;
};

struct ImagePrediction {
  int width = 0, height = 0;                // the original (upright) image
  std::vector<NamedDetection> detections;   // score descending (NMS order)
};

// check_imgsz: imgsz rounded up to a multiple of `stride` (at least one stride).
// `warn` receives a line when it had to change it, as the reference warns.
int imgsz_for_stride(int imgsz, int stride, const std::function<void(const std::string&)>& warn);

// LetterBox(new_shape=(imgsz, imgsz), auto=True, scaleup=True, stride) for a
// (src_h, src_w) image: r = min(imgsz / src_h, imgsz / src_w); resized =
// round(src * r) (half to even); padding per axis (imgsz - resized) mod stride, split
// top = round(d / 2 - 0.1), bottom = round(d / 2 + 0.1), same for left/right.
kernels::LetterboxGeometry prediction_letterbox(int src_h, int src_w, int imgsz, int stride);

// The network input of one image: images (1, 3, out_h, out_w) float RGB in 0..1.
struct PredictionInput {
  kernels::Shape4 shape;
  std::vector<float> images;
};
PredictionInput prepare_prediction_input(const data::RgbImage& image, const kernels::LetterboxGeometry& geometry);

// Eval forward of `input` (batch 1), decode, NMS: detections in input pixels.
std::vector<kernels::Detection> detect_input(model::Model& model, const PredictionInput& input,
                                             const kernels::NmsConfig& nms);

// The whole path with an explicit letterbox and mapping back (the validator's, say):
// detections mapped with `mapping`, clipped, named by `names` ("class<c>" past its end).
ImagePrediction predict_letterboxed(model::Model& model, std::span<const std::string> names,
                                    const data::RgbImage& image, const kernels::LetterboxGeometry& geometry,
                                    const LetterboxMapping& mapping, const PredictSettings& settings);

// The reference's predict: prediction_letterbox at settings.imgsz and the model's
// largest stride, mapping by letterbox_mapping_for (ops.scale_boxes).
ImagePrediction predict_image(model::Model& model, std::span<const std::string> names, const data::RgbImage& image,
                              const PredictSettings& settings);

// Reads and decodes `path` (EXIF upright), then predict_image. Throws
// data::SampleProblem naming the file when it cannot be read or decoded.
ImagePrediction predict_file(model::Model& model, std::span<const std::string> names, const std::string& path,
                             const PredictSettings& settings);

}  // namespace shrike::train
