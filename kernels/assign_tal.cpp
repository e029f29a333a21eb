// kernels/assign_tal.cpp
//
// The task-aligned assigner on the CPU, one image at a time (see assign_tal.h).
// Where the spec is silent, behaviour is Ultralytics 8.2/8.3 tal.py's:
// - No GT rows in the whole batch (max_gts == 0): every anchor is background with
//   label nc (the reference's bg_idx), zero box, zero scores, GT index 0.
// - GT rows that are padding (gt_valid 0) never produce candidates, positives or
//   overlaps; an image with only padding is all background. As the reference's
//   get_targets, a background anchor still gets GT row target_gt_index's label and
//   box (row 0), which the loss never reads.
// - top-k: the reference runs torch.topk over every anchor of align(g, .) with the
//   topk mask all-true for a valid GT, then keeps only candidates. Ties can only
//   happen at align 0 (non-candidates, or candidates whose CIoU clamps to 0 / whose
//   score underflows). torch.topk leaves the tie order unspecified; its CPU path for
//   num_anchors >= 64 * topk (a partial heap sort) keeps the lower anchor index, and
//   that is the rule here: anchors ranked by (align descending, index ascending).
//   So a zero-align candidate becomes positive only if it is among the first
//   topk - #(align > 0) anchors with align 0. Its target score is 0 either way.
// - Conflicts: an anchor positive for more than one GT goes to the first GT row of
//   largest overlap (torch.argmax returns the first maximum), taken over every GT
//   row of the image, including rows that did not select the anchor and padding
//   rows (overlap 0). The normalisation then uses these resolved positives.
// - target_gt_index = the first GT row the anchor is positive for, else 0.
#include "kernels/assign_tal.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "kernels/box_iou.h"

namespace shrike::kernels {
namespace {

// Scratch for one image: rows are GTs, columns anchors, (max_gts, num_anchors).
template <typename T>
struct ImageMetrics {
  std::vector<T> overlaps;
  std::vector<T> align;
  std::vector<unsigned char> candidate;
  std::vector<unsigned char> positive;
};

template <typename T>
T power(T base, double exponent) {
  if (exponent == 0.5) return std::sqrt(base);  // the reference's pow(0.5) is a sqrt
  return std::pow(base, static_cast<T>(exponent));
}

// Candidate test, overlaps and align metric of GT g against every anchor of image b.
template <typename T>
void compute_gt_metrics(const TalInputs<T>& in, const TalConfig& config, int b, int g, ImageMetrics<T>& m) {
  const std::size_t row = static_cast<std::size_t>(g) * in.num_anchors;
  const std::size_t gt_index = static_cast<std::size_t>(b) * in.max_gts + g;
  if (!in.gt_valid[gt_index]) return;  // rows stay zero
  const T* gt_box = in.gt_boxes + gt_index * 4;
  const int label = in.gt_labels[gt_index];
  const T candidate_eps = static_cast<T>(1e-9);
  for (int a = 0; a < in.num_anchors; ++a) {
    const T ax = in.anchor_points[2 * a], ay = in.anchor_points[2 * a + 1];
    const T nearest_side = std::min(std::min(ax - gt_box[0], ay - gt_box[1]), std::min(gt_box[2] - ax, gt_box[3] - ay));
    if (!(nearest_side > candidate_eps)) continue;
    const std::size_t anchor = static_cast<std::size_t>(b) * in.num_anchors + a;
    const T overlap = std::max(ciou_xyxy(gt_box, in.pred_boxes + anchor * 4), T(0));
    const T score = in.scores[anchor * in.nc + label];
    m.candidate[row + a] = 1;
    m.overlaps[row + a] = overlap;
    m.align[row + a] = power(score, config.alpha) * power(overlap, config.beta);
  }
}

// positive(g, .) = top-k of align(g, .) ranked by (align desc, index asc), candidates only.
template <typename T>
void select_topk_positives(int num_anchors, int topk, std::size_t row, ImageMetrics<T>& m) {
  std::vector<int> ranked;
  for (int a = 0; a < num_anchors; ++a)
    if (m.align[row + a] > T(0)) ranked.push_back(a);
  const auto by_align = [&](int lhs, int rhs) {
    const T l = m.align[row + lhs], r = m.align[row + rhs];
    return l > r || (l == r && lhs < rhs);
  };
  const std::size_t k = static_cast<std::size_t>(std::min(topk, num_anchors));
  if (ranked.size() > k) {
    std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(k), ranked.end(), by_align);
    ranked.resize(k);
  }
  for (int a : ranked) m.positive[row + a] = m.candidate[row + a];
  // The remaining slots go to the lowest-index anchors with align 0.
  std::size_t free_slots = k - ranked.size();
  for (int a = 0; a < num_anchors && free_slots > 0; ++a) {
    if (m.align[row + a] > T(0)) continue;
    --free_slots;
    m.positive[row + a] = m.candidate[row + a];
  }
}

// An anchor positive for several GTs keeps only the GT row of largest overlap.
template <typename T>
void resolve_conflicts(int num_anchors, int max_gts, ImageMetrics<T>& m) {
  for (int a = 0; a < num_anchors; ++a) {
    int count = 0;
    for (int g = 0; g < max_gts; ++g) count += m.positive[static_cast<std::size_t>(g) * num_anchors + a];
    if (count <= 1) continue;
    int best = 0;
    for (int g = 1; g < max_gts; ++g)
      if (m.overlaps[static_cast<std::size_t>(g) * num_anchors + a] >
          m.overlaps[static_cast<std::size_t>(best) * num_anchors + a])
        best = g;
    for (int g = 0; g < max_gts; ++g) m.positive[static_cast<std::size_t>(g) * num_anchors + a] = (g == best);
  }
}

// Per GT: max align and max overlap over its (resolved) positive anchors.
template <typename T>
void positive_maxima(int num_anchors, int max_gts, const ImageMetrics<T>& m, std::vector<T>& max_align,
                     std::vector<T>& max_overlap) {
  max_align.assign(max_gts, T(0));
  max_overlap.assign(max_gts, T(0));
  for (int g = 0; g < max_gts; ++g) {
    const std::size_t row = static_cast<std::size_t>(g) * num_anchors;
    for (int a = 0; a < num_anchors; ++a) {
      if (!m.positive[row + a]) continue;
      max_align[g] = std::max(max_align[g], m.align[row + a]);
      max_overlap[g] = std::max(max_overlap[g], m.overlaps[row + a]);
    }
  }
}

// Writes every output of image b from its resolved positives.
template <typename T>
void write_image_targets(const TalInputs<T>& in, const TalConfig& config, int b, const ImageMetrics<T>& m,
                         const TalOutputs<T>& out) {
  std::vector<T> max_align, max_overlap;
  positive_maxima(in.num_anchors, in.max_gts, m, max_align, max_overlap);
  const T eps = static_cast<T>(config.eps);
  for (int a = 0; a < in.num_anchors; ++a) {
    const std::size_t anchor = static_cast<std::size_t>(b) * in.num_anchors + a;
    int assigned = -1;
    for (int g = 0; g < in.max_gts && assigned < 0; ++g)
      if (m.positive[static_cast<std::size_t>(g) * in.num_anchors + a]) assigned = g;
    const int gt_row = std::max(assigned, 0);
    const std::size_t gt_index = static_cast<std::size_t>(b) * in.max_gts + gt_row;
    const int label = std::max(in.gt_labels[gt_index], 0);
    out.target_gt_index[anchor] = gt_row;
    out.target_labels[anchor] = label;
    out.fg_mask[anchor] = assigned >= 0;
    std::copy_n(in.gt_boxes + gt_index * 4, 4, out.target_boxes + anchor * 4);
    T* scores = out.target_scores + anchor * in.nc;
    std::fill_n(scores, in.nc, T(0));
    if (assigned < 0) continue;
    // Only the assigned row is positive after conflict resolution, so the
    // reference's max over GTs of the normalised metric is this row's value.
    const T align = m.align[static_cast<std::size_t>(gt_row) * in.num_anchors + a];
    scores[label] = align * max_overlap[gt_row] / (max_align[gt_row] + eps);
  }
}

template <typename T>
void write_all_background(const TalInputs<T>& in, const TalOutputs<T>& out) {
  const std::size_t anchors = static_cast<std::size_t>(in.batch) * in.num_anchors;
  std::fill_n(out.target_labels, anchors, in.nc);
  std::fill_n(out.target_boxes, anchors * 4, T(0));
  std::fill_n(out.target_scores, anchors * in.nc, T(0));
  std::fill_n(out.fg_mask, anchors, static_cast<unsigned char>(0));
  std::fill_n(out.target_gt_index, anchors, 0);
}

template <typename T>
void assign_image(const TalInputs<T>& in, const TalConfig& config, int b, const TalOutputs<T>& out) {
  const std::size_t cells = static_cast<std::size_t>(in.max_gts) * in.num_anchors;
  ImageMetrics<T> m{std::vector<T>(cells, T(0)), std::vector<T>(cells, T(0)), std::vector<unsigned char>(cells, 0),
                    std::vector<unsigned char>(cells, 0)};
  for (int g = 0; g < in.max_gts; ++g) {
    if (!in.gt_valid[static_cast<std::size_t>(b) * in.max_gts + g]) continue;
    compute_gt_metrics(in, config, b, g, m);
    select_topk_positives(in.num_anchors, config.topk, static_cast<std::size_t>(g) * in.num_anchors, m);
  }
  resolve_conflicts(in.num_anchors, in.max_gts, m);
  write_image_targets(in, config, b, m, out);
}

}  // namespace

template <typename T>
void assign_tal_cpu(const TalInputs<T>& inputs, const TalConfig& config, const TalOutputs<T>& outputs) {
  if (inputs.max_gts == 0) {
    write_all_background(inputs, outputs);
    return;
  }
  // Small problems run on one thread: starting a team would cost more than the work.
  const std::size_t work = static_cast<std::size_t>(inputs.batch) * inputs.num_anchors * inputs.max_gts;
#pragma omp parallel for schedule(dynamic, 1) if (work >= 16384)
  for (int b = 0; b < inputs.batch; ++b) assign_image(inputs, config, b, outputs);
}

template void assign_tal_cpu<float>(const TalInputs<float>&, const TalConfig&, const TalOutputs<float>&);
template void assign_tal_cpu<double>(const TalInputs<double>&, const TalConfig&, const TalOutputs<double>&);

}  // namespace shrike::kernels
