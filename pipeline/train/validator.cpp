// pipeline/train/validator.cpp: eval forward, decode, NMS, mapping back, metrics.
#include "pipeline/train/validator.h"

#include <algorithm>
#include <chrono>

#include "kernels/detect_decode.h"
#include "kernels/nms.h"
#include "pipeline/model/modules.h"
#include "pipeline/train/detect_step.h"
#include "pipeline/train/validation_gather.h"

namespace shrike::train {

namespace {

// The per-image labels of a batch, in original image coordinates.
std::vector<std::vector<GroundTruth>> labels_of(const data::ValBatch& batch, const std::vector<LetterboxMapping>& maps) {
  std::vector<std::vector<GroundTruth>> labels(batch.images_info.size());
  for (std::size_t t = 0; t < batch.target_count(); ++t) {
    const float* row = &batch.targets[t * 6];
    const auto image = static_cast<std::size_t>(row[0]);
    labels[image].push_back(label_to_original(static_cast<int>(row[1]), row + 2, batch.shape.w, batch.shape.h, maps[image]));
  }
  return labels;
}

LetterboxMapping mapping_of(const data::ValImageInfo& info) {
  LetterboxMapping mapping;
  mapping.gain = static_cast<float>(info.ratio_w);
  mapping.pad_x = static_cast<float>(info.pad_left);
  mapping.pad_y = static_cast<float>(info.pad_top);
  mapping.original_width = info.orig_width;
  mapping.original_height = info.orig_height;
  return mapping;
}

BatchStatistics validate_batch(model::Model& model, const data::ValLoader& loader, std::size_t b,
                               const ValidationSettings& settings, std::vector<float>& decoded) {
  BatchStatistics stats{b, DetectionMetrics(model.nc())};
  data::ValBatch batch = loader.load(b);
  kernels::NmsConfig nms;
  nms.conf_thres = settings.conf;
  nms.iou_thres = settings.iou;
  nms.max_det = settings.max_det;
  std::vector<std::vector<kernels::Detection>> detections;
  if (settings.device != nullptr) {  // forward, loss, decode and NMS on the GPU; boxes come back
    StepLoss loss = settings.device->forward_backward(batch.images.data(), batch.shape, batch.targets, false,
                                                      model::Mode::kEval);
    stats.losses[0] = loss.box;
    stats.losses[1] = loss.cls;
    stats.losses[2] = loss.dfl;
    detections = settings.device->detections(batch.shape, nms);
  } else {
    model::Graph& graph = model.graph(batch.shape, model::GraphStorage::kInference);
    if (settings.compute_loss) {  // runs the forward pass too
      StepLoss loss = detect_forward_backward(model, batch.images.data(), batch.shape, batch.targets, false,
                                              model::Mode::kEval);
      stats.losses[0] = loss.box;
      stats.losses[1] = loss.cls;
      stats.losses[2] = loss.dfl;
    } else {
      graph.forward(batch.images.data(), model::Mode::kEval);
    }
    std::vector<kernels::HeadLevel<float>> levels;
    for (std::size_t l = 0; l < graph.outputs().size(); ++l) {
      const kernels::Shape4 s = graph.shape(graph.outputs()[l]);
      levels.push_back({graph.value(graph.outputs()[l]), s.h, s.w, model.strides()[l]});
    }
    const std::size_t anchors = kernels::detect_anchor_count<float>(levels);
    decoded.resize(static_cast<std::size_t>(batch.shape.n) * anchors * (4 + model.nc()));
    kernels::detect_decode_cpu<float>(levels, batch.shape.n, model.nc(), model::kRegMax, decoded.data());
    detections = kernels::non_max_suppression_cpu(decoded.data(), batch.shape.n, static_cast<int>(anchors),
                                                  model.nc(), nms);
  }
  std::vector<LetterboxMapping> maps;
  for (const auto& info : batch.images_info) maps.push_back(mapping_of(info));
  auto labels = labels_of(batch, maps);
  for (std::size_t i = 0; i < detections.size(); ++i) {
    scale_to_original(detections[i], maps[i]);
    stats.metrics.add_image(detections[i], labels[i]);
  }
  stats.images = detections.size();
  return stats;
}

}  // namespace

ValidationResult run_validation(model::Model& model, const data::ValLoader& loader, const ValidationSettings& settings,
                                dist::Communicator* comm) {
  const auto start = std::chrono::steady_clock::now();
  const int rank = comm != nullptr ? comm->rank() : 0;
  const int world = comm != nullptr ? comm->world() : 1;
  std::vector<BatchStatistics> statistics;
  std::vector<float> decoded;
  for (std::size_t b = static_cast<std::size_t>(rank); b < loader.batch_count(); b += static_cast<std::size_t>(world)) {
    statistics.push_back(validate_batch(model, loader, b, settings, decoded));
  }
  if (world > 1) {
    statistics = gather_batch_statistics(std::move(statistics), *comm, 0);
    if (rank != 0) return {};
  }
  ValidationResult result;
  const BatchStatistics total = merge_batch_statistics(statistics, model.nc());
  result.metrics = total.metrics.compute();
  result.box_loss = total.losses[0];
  result.cls_loss = total.losses[1];
  result.dfl_loss = total.losses[2];
  result.images = total.images;
  const double batches = std::max<std::size_t>(loader.batch_count(), 1);
  result.box_loss /= batches;
  result.cls_loss /= batches;
  result.dfl_loss /= batches;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace shrike::train
