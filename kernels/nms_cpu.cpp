// kernels/nms_cpu.cpp
//
// CPU reference of the validation NMS (see nms.h for the steps and the source they
// follow). Images are independent and run in parallel; each image is sequential, so
// results do not depend on the thread count.
#include "kernels/nms.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>

#include "kernels/box_iou.h"

namespace shrike::kernels {
namespace {

// A candidate before suppression: its anchor's box (xyxy), one class and its score.
struct Candidate {
  float box[4];
  float score;
  int cls;
};

// Step 1 (see nms.h): the candidates of one image in the reference's order.
std::vector<Candidate> collect_candidates(const float* predictions, int num_anchors, int nc,
                                          const NmsConfig& config) {
  const bool multi_label = config.multi_label && nc > 1;
  std::vector<Candidate> out;
  for (int a = 0; a < num_anchors; ++a) {
    const float* row = predictions + static_cast<std::size_t>(a) * (4 + nc);
    const float* scores = row + 4;
    Candidate candidate{};
    xywh_to_xyxy(candidate.box, row);
    if (multi_label) {
      for (int c = 0; c < nc; ++c) {
        if (!(scores[c] > config.conf_thres)) continue;
        candidate.score = scores[c], candidate.cls = c;
        out.push_back(candidate);
      }
    } else if (nc > 0) {
      const int best = static_cast<int>(std::max_element(scores, scores + nc) - scores);  // first maximum
      if (!(scores[best] > config.conf_thres)) continue;
      candidate.score = scores[best], candidate.cls = best;
      out.push_back(candidate);
    }
  }
  return out;
}

// Step 2: the max_nms highest scores, stable (equal scores keep candidate order).
void keep_top_scores(std::vector<Candidate>& candidates, int max_nms) {
  if (static_cast<int>(candidates.size()) <= max_nms) return;
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  candidates.resize(static_cast<std::size_t>(std::max(max_nms, 0)));
}

float box_area(const float* b) { return (b[2] - b[0]) * (b[3] - b[1]); }

}  // namespace

std::vector<int> nms_greedy_cpu(std::span<const float> boxes, std::span<const float> scores, double iou_thres) {
  const int n = static_cast<int>(scores.size());
  std::vector<int> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  std::vector<float> areas(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) areas[i] = box_area(&boxes[static_cast<std::size_t>(i) * 4]);
  std::vector<unsigned char> suppressed(static_cast<std::size_t>(n), 0);
  std::vector<int> keep;
  for (int oi = 0; oi < n; ++oi) {
    const int i = order[oi];
    if (suppressed[i]) continue;
    keep.push_back(i);
    const float* bi = &boxes[static_cast<std::size_t>(i) * 4];
    for (int oj = oi + 1; oj < n; ++oj) {
      const int j = order[oj];
      if (suppressed[j]) continue;
      const float* bj = &boxes[static_cast<std::size_t>(j) * 4];
      const float w = std::max(0.0f, std::min(bi[2], bj[2]) - std::max(bi[0], bj[0]));
      const float h = std::max(0.0f, std::min(bi[3], bj[3]) - std::max(bi[1], bj[1]));
      const float inter = w * h;
      const float overlap = inter / (areas[i] + areas[j] - inter);
      if (static_cast<double>(overlap) > iou_thres) suppressed[j] = 1;
    }
  }
  return keep;
}

std::vector<Detection> non_max_suppression_image_cpu(const float* predictions, int num_anchors, int nc,
                                                     const NmsConfig& config) {
  std::vector<Candidate> candidates = collect_candidates(predictions, num_anchors, nc, config);
  keep_top_scores(candidates, config.max_nms);
  // Step 3: class-offset boxes (class * max_wh, float as the reference) into the greedy pass.
  std::vector<float> offset_boxes(candidates.size() * 4), scores(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const float offset = config.agnostic ? 0.0f : static_cast<float>(candidates[i].cls) * config.max_wh;
    for (int k = 0; k < 4; ++k) offset_boxes[i * 4 + k] = candidates[i].box[k] + offset;
    scores[i] = candidates[i].score;
  }
  std::vector<int> keep = nms_greedy_cpu(offset_boxes, scores, config.iou_thres);
  // Step 4: the first max_det.
  if (static_cast<int>(keep.size()) > config.max_det) keep.resize(static_cast<std::size_t>(std::max(config.max_det, 0)));
  std::vector<Detection> out;
  out.reserve(keep.size());
  for (int i : keep) {
    const Candidate& c = candidates[static_cast<std::size_t>(i)];
    out.push_back({c.box[0], c.box[1], c.box[2], c.box[3], c.score, c.cls});
  }
  return out;
}

std::vector<std::vector<Detection>> non_max_suppression_cpu(const float* predictions, int batch, int num_anchors,
                                                            int nc, const NmsConfig& config) {
  std::vector<std::vector<Detection>> out(static_cast<std::size_t>(std::max(batch, 0)));
  const std::size_t image_stride = static_cast<std::size_t>(num_anchors) * (4 + nc);
#pragma omp parallel for schedule(dynamic, 1) if (batch > 1)
  for (int b = 0; b < batch; ++b)
    out[static_cast<std::size_t>(b)] =
        non_max_suppression_image_cpu(predictions + static_cast<std::size_t>(b) * image_stride, num_anchors, nc, config);
  return out;
}

}  // namespace shrike::kernels
