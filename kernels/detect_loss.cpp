// kernels/detect_loss.cpp
//
// The v8 detection loss on the CPU (see detect_loss.h): anchor layout of the head
// maps, DFL decode, the batch's GT table, the TAL assignment, and the per-anchor
// cls / box / dfl terms with their gradient. Per-element arithmetic runs in T in the
// reference's order of operations; sums are accumulated in double, per anchor, then
// added in anchor order (deterministic for any thread count).
#include "kernels/detect_loss.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/assign_tal.h"
#include "kernels/box_iou.h"

namespace shrike::kernels {
namespace {

// Where anchor a lives in the head maps, and its centre in grid units of its level.
struct AnchorSite {
  int level;
  int cell;    // y * w + x within the level
  float grid_x, grid_y;
  int stride;
};

// Anchors of every level in head order: levels in turn, row-major within a level.
template <typename T>
std::vector<AnchorSite> layout_anchors(std::span<const HeadLevel<T>> levels) {
  std::vector<AnchorSite> sites;
  for (std::size_t l = 0; l < levels.size(); ++l)
    for (int y = 0; y < levels[l].h; ++y)
      for (int x = 0; x < levels[l].w; ++x)
        sites.push_back({static_cast<int>(l), y * levels[l].w + x, static_cast<float>(x) + 0.5f,
                         static_cast<float>(y) + 0.5f, levels[l].stride});
  return sites;
}

// Below this many (image, anchor) pairs a loop runs on one thread: starting a team
// costs more than the work (finite-difference checks call the loss thousands of times).
constexpr std::size_t kMinAnchorsPerParallelLoop = 2048;

constexpr int kMaxRegMax = 64;  // bins per side; the models use 16

int head_channels(const DetectLossConfig& config) { return 4 * config.reg_max + config.nc; }

// Strided view of one anchor's channels in its level's NCHW map.
template <typename T>
struct AnchorChannels {
  T* base;
  std::size_t channel_stride;
  T& operator[](int channel) const { return base[channel * channel_stride]; }
};

template <typename T, typename U>
AnchorChannels<U> anchor_channels(U* level_data, const HeadLevel<T>& level, const AnchorSite& site, int batch_index,
                                  int channels) {
  const std::size_t plane = static_cast<std::size_t>(level.h) * level.w;
  return {level_data + static_cast<std::size_t>(batch_index) * channels * plane + site.cell, plane};
}

// DFL decode of one side: softmax over reg_max bins (prob out) and its expectation.
template <typename T>
T decode_side(const AnchorChannels<const T>& logits, int side, int reg_max, T* prob) {
  T max_logit = logits[side * reg_max];
  for (int k = 1; k < reg_max; ++k) max_logit = std::max(max_logit, logits[side * reg_max + k]);
  T denominator = T(0);
  for (int k = 0; k < reg_max; ++k) {
    prob[k] = std::exp(logits[side * reg_max + k] - max_logit);
    denominator += prob[k];
  }
  T expectation = T(0);
  for (int k = 0; k < reg_max; ++k) {
    prob[k] /= denominator;
    expectation += prob[k] * static_cast<T>(k);
  }
  return expectation;
}

// Decoded predictions of the whole batch, (batch, A, ...) in anchor order. The DFL
// softmax is not kept: only foreground anchors need it again, and recompute it.
template <typename T>
struct DecodedBatch {
  std::vector<T> pred_boxes;  // (batch, A, 4) xyxy, grid units
  std::vector<T> scores;      // (batch, A, nc) sigmoid of the class logits
};

template <typename T>
DecodedBatch<T> decode_batch(std::span<const HeadLevel<T>> levels, const std::vector<AnchorSite>& sites, int batch,
                             const DetectLossConfig& config) {
  const int num_anchors = static_cast<int>(sites.size()), channels = head_channels(config);
  const std::size_t total = static_cast<std::size_t>(batch) * num_anchors;
  DecodedBatch<T> out{std::vector<T>(total * 4), std::vector<T>(total * config.nc)};
#pragma omp parallel for schedule(static) if (total >= kMinAnchorsPerParallelLoop)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(total); ++i) {
    const int b = static_cast<int>(i / num_anchors), a = static_cast<int>(i % num_anchors);
    const AnchorSite& site = sites[a];
    const auto logits = anchor_channels(levels[site.level].data, levels[site.level], site, b, channels);
    T ltrb[4], prob[kMaxRegMax];
    for (int side = 0; side < 4; ++side) ltrb[side] = decode_side(logits, side, config.reg_max, prob);
    const T anchor[2] = {static_cast<T>(site.grid_x), static_cast<T>(site.grid_y)};
    dist_to_bbox(&out.pred_boxes[i * 4], ltrb, anchor);
    for (int c = 0; c < config.nc; ++c)
      out.scores[i * config.nc + c] = T(1) / (T(1) + std::exp(-logits[4 * config.reg_max + c]));
  }
  return out;
}

// The batch's GTs padded per image to max_gts rows (the reference's preprocess).
template <typename T>
struct GtTable {
  int max_gts = 0;
  std::vector<int> labels;            // (batch, max_gts)
  std::vector<T> boxes;               // (batch, max_gts, 4) xyxy pixels
  std::vector<unsigned char> valid;   // (batch, max_gts)
};

void check_target_row(const float* row, int index, int batch, int nc) {
  const int image = static_cast<int>(row[0]), label = static_cast<int>(row[1]);
  if (image < 0 || image >= batch || static_cast<float>(image) != row[0])
    throw std::invalid_argument("detect_loss: target row " + std::to_string(index) + " has image index " +
                                std::to_string(row[0]) + ", outside the batch of " + std::to_string(batch));
  if (label < 0 || label >= nc || static_cast<float>(label) != row[1])
    throw std::invalid_argument("detect_loss: target row " + std::to_string(index) + " has class " +
                                std::to_string(row[1]) + ", outside 0.." + std::to_string(nc - 1));
}

template <typename T>
GtTable<T> build_gt_table(const float* targets, int num_targets, int batch, int nc, T image_h, T image_w) {
  if (num_targets < 0 || (num_targets > 0 && targets == nullptr))
    throw std::invalid_argument("detect_loss: " + std::to_string(num_targets) + " targets but no target rows");
  std::vector<int> counts(batch, 0);
  for (int i = 0; i < num_targets; ++i) {
    check_target_row(targets + 6 * i, i, batch, nc);
    ++counts[static_cast<int>(targets[6 * i])];
  }
  GtTable<T> table;
  table.max_gts = num_targets == 0 ? 0 : *std::max_element(counts.begin(), counts.end());
  const std::size_t rows = static_cast<std::size_t>(batch) * table.max_gts;
  table.labels.assign(rows, 0);
  table.boxes.assign(rows * 4, T(0));
  table.valid.assign(rows, 0);
  std::fill(counts.begin(), counts.end(), 0);
  for (int i = 0; i < num_targets; ++i) {
    const float* row = targets + 6 * i;
    const int image = static_cast<int>(row[0]);
    const std::size_t slot = static_cast<std::size_t>(image) * table.max_gts + counts[image]++;
    // Scale first, then convert (the reference: xywh2xyxy(xywh * (W, H, W, H))).
    const T xywh[4] = {static_cast<T>(row[2]) * image_w, static_cast<T>(row[3]) * image_h,
                       static_cast<T>(row[4]) * image_w, static_cast<T>(row[5]) * image_h};
    T* box = &table.boxes[slot * 4];
    xywh_to_xyxy(box, xywh);
    table.labels[slot] = static_cast<int>(row[1]);
    // The reference's mask_gt: a row is a GT when its xyxy coordinates sum to > 0.
    table.valid[slot] = (box[0] + box[1] + box[2] + box[3]) > T(0);
  }
  return table;
}

template <typename T>
void check_levels(std::span<const HeadLevel<T>> levels, int batch, const DetectLossConfig& config) {
  if (levels.empty()) throw std::invalid_argument("detect_loss: no head levels given");
  if (batch <= 0) throw std::invalid_argument("detect_loss: batch must be positive, got " + std::to_string(batch));
  if (config.reg_max < 2 || config.reg_max > kMaxRegMax || config.nc < 1)
    throw std::invalid_argument("detect_loss: needs 2 <= reg_max <= " + std::to_string(kMaxRegMax) + " and nc >= 1");
  for (const auto& level : levels)
    if (level.data == nullptr || level.h <= 0 || level.w <= 0 || level.stride <= 0)
      throw std::invalid_argument("detect_loss: a head level has no data or a non-positive size/stride");
}

// Per-anchor contributions to the three sums (before division by target_scores_sum).
struct AnchorTerms {
  double cls = 0.0, box = 0.0, dfl = 0.0;
};

// d(total)/d(term sum) for each term: gain * batch / target_scores_sum.
template <typename T>
struct TermScales {
  T cls, box, dfl;
};

// BCEWithLogits summed over the classes of one anchor: (1 - t) x + max(-x, 0) +
// log(1 + exp(-|x|)) (the reference's (1 - t) x + m + log(exp(-m) + exp(-x - m)),
// m = max(-x, 0), with one exp); gradient sigmoid(x) - t from the same exp.
template <typename T>
double class_term(const AnchorChannels<const T>& logits, const T* target_scores, const DetectLossConfig& config,
                  T scale, const AnchorChannels<T>* grad) {
  double sum = 0.0;
  for (int c = 0; c < config.nc; ++c) {
    const T x = logits[4 * config.reg_max + c], t = target_scores[c];
    const T e = std::exp(-std::fabs(x));
    sum += static_cast<double>((T(1) - t) * x + std::max(-x, T(0)) + std::log(T(1) + e));
    if (grad) {
      const T sigmoid = x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
      (*grad)[4 * config.reg_max + c] = scale * (sigmoid - t);
    }
  }
  return sum;
}

// log(sum_k exp(logit_k)) over one side's bins.
template <typename T>
T side_logsumexp(const AnchorChannels<const T>& logits, int side, int reg_max) {
  T max_logit = logits[side * reg_max];
  for (int k = 1; k < reg_max; ++k) max_logit = std::max(max_logit, logits[side * reg_max + k]);
  T sum = T(0);
  for (int k = 0; k < reg_max; ++k) sum += std::exp(logits[side * reg_max + k] - max_logit);
  return max_logit + std::log(sum);
}

// What one foreground anchor needs for its box and DFL terms.
template <typename T>
struct ForegroundAnchor {
  const T* pred_box;     // (4) xyxy, grid units
  const T* target_px;    // (4) xyxy, pixels
  T weight;              // sum of the anchor's target scores
  T anchor[2];           // grid units
  T stride;
  const T* frozen_alpha;  // null: the CIoU alpha of the boxes
};

// Box (1 - CIoU) * weight and DFL * weight of one foreground anchor; when grad is set,
// writes d(total)/d(box logits) for its 4 * reg_max channels.
template <typename T>
void box_and_dfl_terms(const AnchorChannels<const T>& logits, const ForegroundAnchor<T>& fg,
                       const DetectLossConfig& config, const TermScales<T>& scales, const AnchorChannels<T>* grad,
                       AnchorTerms& terms) {
  const int reg_max = config.reg_max;
  const T target[4] = {fg.target_px[0] / fg.stride, fg.target_px[1] / fg.stride, fg.target_px[2] / fg.stride,
                       fg.target_px[3] / fg.stride};
  T dciou_dbox[4];
  const T ciou = fg.frozen_alpha ? ciou_xyxy_given_alpha(fg.pred_box, target, *fg.frozen_alpha, dciou_dbox)
                                 : ciou_xyxy(fg.pred_box, target, dciou_dbox);
  terms.box = static_cast<double>((T(1) - ciou) * fg.weight);

  T target_ltrb[4];
  bbox_to_dist(target_ltrb, fg.anchor, target, static_cast<T>(reg_max - 1 - 0.01));
  // pred box = (ax - l, ay - t, ax + r, ay + b): d(total)/d(distance) per side.
  const T box_to_dist_sign[4] = {T(-1), T(-1), T(1), T(1)};
  T side_sum = T(0);
  for (int side = 0; side < 4; ++side) {
    const T t = target_ltrb[side];
    const int left_bin = static_cast<int>(t), right_bin = left_bin + 1;
    const T left_weight = static_cast<T>(right_bin) - t, right_weight = T(1) - left_weight;
    const T lse = side_logsumexp(logits, side, reg_max);
    side_sum += (lse - logits[side * reg_max + left_bin]) * left_weight +
                (lse - logits[side * reg_max + right_bin]) * right_weight;
    if (!grad) continue;
    T prob[kMaxRegMax];
    const T expectation = decode_side(logits, side, reg_max, prob);
    const T ddist = -scales.box * fg.weight * box_to_dist_sign[side] * dciou_dbox[side];
    const T ddfl = scales.dfl * fg.weight / T(4);
    for (int k = 0; k < reg_max; ++k) {
      const T one_hot = (k == left_bin ? left_weight : T(0)) + (k == right_bin ? right_weight : T(0));
      (*grad)[side * reg_max + k] = ddist * prob[k] * (static_cast<T>(k) - expectation) + ddfl * (prob[k] - one_hot);
    }
  }
  terms.dfl = static_cast<double>(side_sum / T(4) * fg.weight);
}

// The assigner works in pixels: anchors (A, 2) = grid centres * stride, boxes
// (batch, A, 4) = grid-unit boxes * stride (the reference's order of operations).
template <typename T>
std::vector<T> anchor_points_in_pixels(const std::vector<AnchorSite>& sites) {
  std::vector<T> points(sites.size() * 2);
  for (std::size_t a = 0; a < sites.size(); ++a) {
    points[2 * a] = static_cast<T>(sites[a].grid_x) * static_cast<T>(sites[a].stride);
    points[2 * a + 1] = static_cast<T>(sites[a].grid_y) * static_cast<T>(sites[a].stride);
  }
  return points;
}

template <typename T>
std::vector<T> boxes_in_pixels(const std::vector<T>& grid_boxes, const std::vector<AnchorSite>& sites) {
  std::vector<T> pixels(grid_boxes.size());
  for (std::size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = grid_boxes[i] * static_cast<T>(sites[(i / 4) % sites.size()].stride);
  return pixels;
}

template <typename T>
T sum_of(const T* values, int count) {
  T sum = T(0);
  for (int i = 0; i < count; ++i) sum += values[i];
  return sum;
}

template <typename T>
DetectAssignment<T> assign_decoded(std::span<const HeadLevel<T>> levels, const std::vector<AnchorSite>& sites,
                                   const DecodedBatch<T>& decoded, int batch, const float* targets, int num_targets,
                                   const DetectLossConfig& config) {
  const int num_anchors = static_cast<int>(sites.size());
  const T image_h = static_cast<T>(levels[0].h * levels[0].stride);
  const T image_w = static_cast<T>(levels[0].w * levels[0].stride);
  const GtTable<T> gts = build_gt_table(targets, num_targets, batch, config.nc, image_h, image_w);

  const std::vector<T> anchor_points = anchor_points_in_pixels<T>(sites);
  const std::vector<T> pixel_boxes = boxes_in_pixels(decoded.pred_boxes, sites);

  DetectAssignment<T> out;
  out.batch = batch;
  out.num_anchors = num_anchors;
  out.nc = config.nc;
  out.max_gts = gts.max_gts;
  const std::size_t total = static_cast<std::size_t>(batch) * num_anchors;
  out.target_boxes.resize(total * 4);
  out.target_scores.resize(total * config.nc);
  out.fg_mask.resize(total);
  out.target_gt_index.resize(total);
  out.target_labels.resize(total);

  const TalInputs<T> inputs{decoded.scores.data(), pixel_boxes.data(), anchor_points.data(), gts.labels.data(),
                            gts.boxes.data(), gts.valid.data(), batch, num_anchors, config.nc, gts.max_gts};
  const TalOutputs<T> outputs{out.target_labels.data(), out.target_boxes.data(), out.target_scores.data(),
                              out.fg_mask.data(), out.target_gt_index.data()};
  assign_tal_cpu(inputs, TalConfig{config.topk, config.alpha, config.beta, 1e-9}, outputs);

  double score_sum = 0.0;
  for (T score : out.target_scores) score_sum += static_cast<double>(score);
  out.target_scores_sum = static_cast<T>(std::max(score_sum, 1.0));
  out.target_scores_raw_sum = score_sum;
  return out;
}

template <typename T>
DetectLossResult<T> loss_given_decoded(std::span<const HeadLevel<T>> levels, const std::vector<AnchorSite>& sites,
                                       const DecodedBatch<T>& decoded, int batch,
                                       const DetectAssignment<T>& assignment, const DetectLossConfig& config,
                                       std::span<T* const> grads) {
  const int num_anchors = static_cast<int>(sites.size()), channels = head_channels(config);
  if (assignment.batch != batch || assignment.num_anchors != num_anchors || assignment.nc != config.nc)
    throw std::invalid_argument("detect_loss: the assignment was made for other head maps");
  if (!grads.empty() && grads.size() != levels.size())
    throw std::invalid_argument("detect_loss: " + std::to_string(grads.size()) + " gradient buffers for " +
                                std::to_string(levels.size()) + " head levels");
  const bool backward =
      !grads.empty() && std::all_of(grads.begin(), grads.end(), [](T* g) { return g != nullptr; });
  const T tss = assignment.target_scores_sum;
  const T batch_t = static_cast<T>(config.total_scale > 0 ? config.total_scale : batch);
  const TermScales<T> scales{static_cast<T>(config.cls_gain) * batch_t / tss,
                             static_cast<T>(config.box_gain) * batch_t / tss,
                             static_cast<T>(config.dfl_gain) * batch_t / tss};

  const std::size_t total = static_cast<std::size_t>(batch) * num_anchors;
  std::vector<AnchorTerms> terms(total);
#pragma omp parallel for schedule(static) if (total >= kMinAnchorsPerParallelLoop)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(total); ++i) {
    const int b = static_cast<int>(i / num_anchors), a = static_cast<int>(i % num_anchors);
    const AnchorSite& site = sites[a];
    const HeadLevel<T>& level = levels[site.level];
    const auto logits = anchor_channels(level.data, level, site, b, channels);
    AnchorChannels<T> grad{};
    if (backward) grad = anchor_channels(grads[site.level], level, site, b, channels);
    const AnchorChannels<T>* grad_ptr = backward ? &grad : nullptr;
    const T* target_scores = &assignment.target_scores[i * config.nc];
    terms[i].cls = class_term(logits, target_scores, config, scales.cls, grad_ptr);
    if (!assignment.fg_mask[i]) {
      if (backward)
        for (int c = 0; c < 4 * config.reg_max; ++c) grad[c] = T(0);
      continue;
    }
    const ForegroundAnchor<T> fg{&decoded.pred_boxes[i * 4],
                                 &assignment.target_boxes[i * 4],
                                 sum_of(target_scores, config.nc),
                                 {static_cast<T>(site.grid_x), static_cast<T>(site.grid_y)},
                                 static_cast<T>(site.stride),
                                 assignment.ciou_alpha.empty() ? nullptr : &assignment.ciou_alpha[i]};
    box_and_dfl_terms(logits, fg, config, scales, grad_ptr, terms[i]);
  }

  AnchorTerms sums;
  for (const AnchorTerms& t : terms) {
    sums.cls += t.cls;
    sums.box += t.box;
    sums.dfl += t.dfl;
  }
  DetectLossResult<T> result;
  result.box = static_cast<T>(config.box_gain * (sums.box / static_cast<double>(tss)));
  result.cls = static_cast<T>(config.cls_gain * (sums.cls / static_cast<double>(tss)));
  result.dfl = static_cast<T>(config.dfl_gain * (sums.dfl / static_cast<double>(tss)));
  result.total = (result.box + result.cls + result.dfl) * batch_t;
  return result;
}

}  // namespace

template <typename T>
DetectAssignment<T> assign_detect_targets_cpu(std::span<const HeadLevel<T>> levels, int batch, const float* targets,
                                              int num_targets, const DetectLossConfig& config) {
  check_levels(levels, batch, config);
  const std::vector<AnchorSite> sites = layout_anchors(levels);
  return assign_decoded(levels, sites, decode_batch(levels, sites, batch, config), batch, targets, num_targets, config);
}

template <typename T>
DetectLossResult<T> detect_loss_given_assignment_cpu(std::span<const HeadLevel<T>> levels, int batch,
                                                     const DetectAssignment<T>& assignment,
                                                     const DetectLossConfig& config, std::span<T* const> grads) {
  check_levels(levels, batch, config);
  const std::vector<AnchorSite> sites = layout_anchors(levels);
  return loss_given_decoded(levels, sites, decode_batch(levels, sites, batch, config), batch, assignment, config,
                            grads);
}

template <typename T>
void freeze_ciou_alpha_cpu(std::span<const HeadLevel<T>> levels, int batch, const DetectLossConfig& config,
                           DetectAssignment<T>& assignment) {
  const std::vector<AnchorSite> sites = layout_anchors(levels);
  const DecodedBatch<T> decoded = decode_batch(levels, sites, batch, config);
  assignment.ciou_alpha.assign(assignment.fg_mask.size(), T(0));
  for (std::size_t i = 0; i < assignment.fg_mask.size(); ++i) {
    if (!assignment.fg_mask[i]) continue;
    const T stride = static_cast<T>(sites[i % sites.size()].stride);
    const T* target_px = &assignment.target_boxes[i * 4];
    const T target[4] = {target_px[0] / stride, target_px[1] / stride, target_px[2] / stride, target_px[3] / stride};
    assignment.ciou_alpha[i] = ciou_alpha_xyxy(&decoded.pred_boxes[i * 4], target);
  }
}

template <typename T>
DetectLossResult<T> detect_loss_cpu(std::span<const HeadLevel<T>> levels, int batch, const float* targets,
                                    int num_targets, const DetectLossConfig& config, std::span<T* const> grads) {
  check_levels(levels, batch, config);
  const std::vector<AnchorSite> sites = layout_anchors(levels);
  const DecodedBatch<T> decoded = decode_batch(levels, sites, batch, config);  // shared by both steps
  const DetectAssignment<T> assignment = assign_decoded(levels, sites, decoded, batch, targets, num_targets, config);
  return loss_given_decoded(levels, sites, decoded, batch, assignment, config, grads);
}

#define SHRIKE_INSTANTIATE_DETECT_LOSS(T)                                                                        \
  template DetectAssignment<T> assign_detect_targets_cpu<T>(std::span<const HeadLevel<T>>, int, const float*, int, \
                                                            const DetectLossConfig&);                              \
  template DetectLossResult<T> detect_loss_given_assignment_cpu<T>(                                                \
      std::span<const HeadLevel<T>>, int, const DetectAssignment<T>&, const DetectLossConfig&, std::span<T* const>); \
  template void freeze_ciou_alpha_cpu<T>(std::span<const HeadLevel<T>>, int, const DetectLossConfig&,            \
                                         DetectAssignment<T>&);                                                    \
  template DetectLossResult<T> detect_loss_cpu<T>(std::span<const HeadLevel<T>>, int, const float*, int,           \
                                                  const DetectLossConfig&, std::span<T* const>);
SHRIKE_INSTANTIATE_DETECT_LOSS(float)
SHRIKE_INSTANTIATE_DETECT_LOSS(double)
#undef SHRIKE_INSTANTIATE_DETECT_LOSS

}  // namespace shrike::kernels
