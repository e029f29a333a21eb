// kernels/detect_loss.cu
//
// The kernels of the v8 detection loss on the GPU (driven by detect_loss_cuda.cpp
// through detect_loss_kernels.h). Each step mirrors the CPU reference
// (detect_loss.cpp, assign_tal.cpp) in its order of operations, with the box
// geometry shared through box_iou.h:
//   decode      one thread per (image, anchor): DFL softmax expectation -> xyxy.
//   topk        one warp per (image, GT row): candidates (centre strictly inside,
//               > 1e-9), align = score^alpha * clamp(CIoU)^beta, the top k by
//               (align desc, anchor index asc) among align > 0, then the remaining
//               slots to the lowest-index anchors with align 0 (positive only if
//               candidates), as the CPU's partial_sort + fill.
//   count       one thread per (image, GT row, slot): how many GTs selected each
//               anchor and the first of them (integer atomics: exact).
//   resolve     one thread per (image, anchor): one selecting GT keeps it; several:
//               the first GT row of largest overlap over EVERY row of the image (as
//               the CPU and the reference, not only the selecting ones); per-GT max
//               align / overlap over the resolved positives (atomicMax on the bits of
//               non-negative floats: exact and order-free).
//   targets     one thread per (image, anchor): score = align * max_overlap /
//               (max_align + eps); per-block double sums, then one block adds them in
//               a fixed order -> the raw target-score sum.
//   loss        one thread per (image, anchor): BCE over the classes, CIoU and DFL on
//               foreground anchors, every gradient element written; per-block double
//               sums, then one block -> items. Deterministic: no float atomics.
// The metric of one (GT, anchor) pair is one non-inlined function, so every kernel
// that recomputes it gets the same bits.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>

#include "kernels/box_iou.h"
#include "kernels/cuda_check.h"
#include "kernels/detect_loss_kernels.h"

namespace shrike::kernels::detect_loss_device {
namespace {

constexpr unsigned kFullWarp = 0xffffffffu;

__host__ __device__ inline int channels_of(const Params& p) { return 4 * p.reg_max + p.nc; }

// Address of channel 0 of anchor `site` of image b in its level's NCHW map.
__device__ inline std::size_t anchor_offset(const LevelMaps& maps, const Params& p, const AnchorSite& site, int b) {
  return static_cast<std::size_t>(b) * channels_of(p) * maps.plane[site.level] + site.cell;
}

// The CPU's power(): exponent 0.5 is a sqrt, anything else pow.
__device__ inline float tal_power(float base, float exponent, bool is_sqrt) {
  return is_sqrt ? std::sqrt(base) : std::pow(base, exponent);
}

// DFL decode of one side (decode_side in detect_loss.cpp): softmax into prob, expectation.
__device__ inline float decode_side(const float* logits, std::size_t channel_stride, int side, int reg_max,
                                    float* prob) {
  const float* l = logits + static_cast<std::size_t>(side) * reg_max * channel_stride;
  float max_logit = l[0];
  for (int k = 1; k < reg_max; ++k) max_logit = std::max(max_logit, l[k * channel_stride]);
  float denominator = 0.0f;
  for (int k = 0; k < reg_max; ++k) {
    prob[k] = std::exp(l[k * channel_stride] - max_logit);
    denominator += prob[k];
  }
  float expectation = 0.0f;
  for (int k = 0; k < reg_max; ++k) {
    prob[k] /= denominator;
    expectation += prob[k] * static_cast<float>(k);
  }
  return expectation;
}

__global__ void decode_kernel(LevelMaps maps, Params p, Buffers buf) {
  const std::size_t total = static_cast<std::size_t>(buf.batch) * buf.num_anchors;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const int b = static_cast<int>(i / buf.num_anchors), a = static_cast<int>(i % buf.num_anchors);
    const AnchorSite site = buf.sites[a];
    const float* logits = maps.head[site.level] + anchor_offset(maps, p, site, b);
    const std::size_t stride = maps.plane[site.level];
    float ltrb[4], prob[kMaxRegMax];
    for (int side = 0; side < 4; ++side) ltrb[side] = decode_side(logits, stride, side, p.reg_max, prob);
    const float anchor[2] = {site.grid_x, site.grid_y};
    dist_to_bbox(buf.pred_boxes + i * 4, ltrb, anchor);
  }
}

struct TalMetric {
  bool candidate;
  float overlap, align;
};

// compute_gt_metrics of assign_tal.cpp for one (GT row, anchor) of image b: anchors and
// predictions in pixels (grid * stride, the CPU's order), zero for padding rows and
// non-candidates.
__device__ __noinline__ TalMetric gt_anchor_metric(const LevelMaps& maps, const Params& p, const Buffers& buf,
                                                    const GtRow& gt, int b, int a) {
  TalMetric m{false, 0.0f, 0.0f};
  if (!gt.valid) return m;
  const AnchorSite site = buf.sites[a];
  const float ax = site.grid_x * site.stride, ay = site.grid_y * site.stride;
  const float nearest_side = std::min(std::min(ax - gt.box[0], ay - gt.box[1]), std::min(gt.box[2] - ax, gt.box[3] - ay));
  if (!(nearest_side > static_cast<float>(1e-9))) return m;
  const std::size_t anchor = static_cast<std::size_t>(b) * buf.num_anchors + a;
  const float* grid_box = buf.pred_boxes + anchor * 4;
  const float pred_px[4] = {grid_box[0] * site.stride, grid_box[1] * site.stride, grid_box[2] * site.stride,
                            grid_box[3] * site.stride};
  m.candidate = true;
  m.overlap = std::max(ciou_xyxy(gt.box, pred_px), 0.0f);
  const float logit =
      maps.head[site.level][anchor_offset(maps, p, site, b) +
                            static_cast<std::size_t>(4 * p.reg_max + gt.label) * maps.plane[site.level]];
  const float score = 1.0f / (1.0f + std::exp(-logit));
  m.align = tal_power(score, p.alpha, p.alpha_is_sqrt) * tal_power(m.overlap, p.beta, p.beta_is_sqrt);
  return m;
}

// The strict order of the top-k: align descending, then anchor index ascending.
__device__ inline bool ranks_before(float align, int index, float other_align, int other_index) {
  return align > other_align || (align == other_align && index < other_index);
}

// One warp per (image, GT row): positives[row * topk + slot] = the anchors it selects
// (select_topk_positives of assign_tal.cpp), -1 in unused slots and for non-candidates.
__global__ void topk_kernel(LevelMaps maps, Params p, Buffers buf) {
  const int rows = buf.batch * buf.max_gts;
  const int row = static_cast<int>((blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x) / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);
  if (row >= rows) return;  // whole warps: blockDim is a multiple of 32
  const int b = row / buf.max_gts;
  int* slots = buf.positives + static_cast<std::size_t>(row) * p.topk;
  for (int j = lane; j < p.topk; j += 32) slots[j] = -1;
  __syncwarp();  // the lanes that fill slots below see these -1s first
  const GtRow gt = buf.gts[row];
  if (!gt.valid) return;  // warp-uniform
  const int k = min(p.topk, buf.num_anchors);

  // Each lane keeps the best k of its anchors (lane, lane + 32, ...) with align > 0,
  // sorted by ranks_before; its anchors come in increasing index, so a newcomer only
  // passes entries of strictly smaller align.
  float top_align[kMaxTopk];
  int top_index[kMaxTopk];
  int count = 0;
  for (int a = lane; a < buf.num_anchors; a += 32) {
    const TalMetric m = gt_anchor_metric(maps, p, buf, gt, b, a);
    if (!(m.align > 0.0f)) continue;
    if (count == k && !(m.align > top_align[k - 1])) continue;
    int pos = count < k ? count++ : k - 1;
    while (pos > 0 && m.align > top_align[pos - 1]) {
      top_align[pos] = top_align[pos - 1];
      top_index[pos] = top_index[pos - 1];
      --pos;
    }
    top_align[pos] = m.align;
    top_index[pos] = a;
  }

  // Merge: k rounds of a warp-wide best-of-heads; the winning lane pops its head.
  int head = 0, taken = 0;
  for (; taken < k; ++taken) {
    float best_align = head < count ? top_align[head] : -1.0f;
    int best_index = head < count ? top_index[head] : INT_MAX;
    for (int offset = 16; offset > 0; offset /= 2) {
      const float other_align = __shfl_xor_sync(kFullWarp, best_align, offset);
      const int other_index = __shfl_xor_sync(kFullWarp, best_index, offset);
      if (ranks_before(other_align, other_index, best_align, best_index)) {
        best_align = other_align;
        best_index = other_index;
      }
    }
    if (!(best_align > 0.0f)) break;  // every lane's list is empty (same in all lanes)
    if (lane == 0) slots[taken] = best_index;
    if (head < count && top_index[head] == best_index) ++head;
  }

  // The remaining k - taken slots: the lowest-index anchors with align 0 (not > 0),
  // each positive only if it is a candidate of this GT.
  const int free_slots = k - taken;
  int filled = 0;
  for (int base = 0; filled < free_slots && base < buf.num_anchors; base += 32) {
    const int a = base + lane;
    bool zero = false, candidate = false;
    if (a < buf.num_anchors) {
      const TalMetric m = gt_anchor_metric(maps, p, buf, gt, b, a);
      zero = !(m.align > 0.0f);
      candidate = m.candidate;
    }
    const unsigned zero_lanes = __ballot_sync(kFullWarp, zero);
    const int rank = __popc(zero_lanes & ((1u << lane) - 1u));
    if (zero && filled + rank < free_slots) slots[taken + filled + rank] = candidate ? a : -1;
    filled += __popc(zero_lanes);
  }
}

// One thread per (image, GT row, slot): count the selections of each anchor.
__global__ void count_kernel(Params p, Buffers buf) {
  const std::size_t total = static_cast<std::size_t>(buf.batch) * buf.max_gts * p.topk;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const int a = buf.positives[i];
    if (a < 0) continue;
    const int row = static_cast<int>(i / p.topk);
    const int b = row / buf.max_gts, g = row % buf.max_gts;
    const std::size_t anchor = static_cast<std::size_t>(b) * buf.num_anchors + a;
    atomicAdd(&buf.select_count[anchor], 1);
    atomicMin(&buf.first_gt[anchor], g);
  }
}

// One thread per (image, anchor): the GT row it is assigned to (resolve_conflicts), and
// that GT's maxima over its positives (positive_maxima).
__global__ void resolve_kernel(LevelMaps maps, Params p, Buffers buf) {
  const std::size_t total = static_cast<std::size_t>(buf.batch) * buf.num_anchors;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const int b = static_cast<int>(i / buf.num_anchors), a = static_cast<int>(i % buf.num_anchors);
    const int selections = buf.select_count[i];
    if (selections == 0) {
      buf.assigned_gt[i] = -1;
      buf.anchor_align[i] = 0.0f;
      continue;
    }
    const GtRow* image_gts = buf.gts + static_cast<std::size_t>(b) * buf.max_gts;
    int g = buf.first_gt[i];
    if (selections > 1) {
      // The first row of largest overlap over every row (padding and non-candidates: 0).
      g = 0;
      float best = gt_anchor_metric(maps, p, buf, image_gts[0], b, a).overlap;
      for (int other = 1; other < buf.max_gts; ++other) {
        const float overlap = gt_anchor_metric(maps, p, buf, image_gts[other], b, a).overlap;
        if (overlap > best) {
          best = overlap;
          g = other;
        }
      }
    }
    const TalMetric m = gt_anchor_metric(maps, p, buf, image_gts[g], b, a);
    buf.assigned_gt[i] = g;
    buf.anchor_align[i] = m.align;
    // Both are >= 0 (or -0.0, whose bits are a negative int and lose to the initial 0,
    // as std::max(0, -0.0) keeps 0): int order of the bits is float order.
    const std::size_t gt_index = static_cast<std::size_t>(b) * buf.max_gts + g;
    atomicMax(&buf.gt_max_align[gt_index], __float_as_int(m.align));
    atomicMax(&buf.gt_max_overlap[gt_index], __float_as_int(m.overlap));
  }
}

// Sum of a block's per-thread doubles (kThreads threads), fixed tree order; valid in
// thread 0. `shared` holds kThreads doubles.
__device__ double block_sum(double value, double* shared) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  const double sum = shared[0];
  __syncthreads();  // shared may be reused right after
  return sum;
}

// One thread per (image, anchor): the target score (write_image_targets), and the
// block's sum of scores in partials[block]. Launched with exactly partial_blocks(B*A)
// blocks of kThreads (no grid-stride: one partial per block).
__global__ void targets_kernel(Buffers buf) {
  __shared__ double shared[kThreads];
  const std::size_t total = static_cast<std::size_t>(buf.batch) * buf.num_anchors;
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(kThreads) + threadIdx.x;
  float score = 0.0f;
  if (i < total) {
    const int g = buf.assigned_gt[i];
    if (g >= 0) {
      const int b = static_cast<int>(i / buf.num_anchors);
      const std::size_t gt_index = static_cast<std::size_t>(b) * buf.max_gts + g;
      const float max_overlap = __int_as_float(buf.gt_max_overlap[gt_index]);
      const float max_align = __int_as_float(buf.gt_max_align[gt_index]);
      score = buf.anchor_align[i] * max_overlap / (max_align + static_cast<float>(1e-9));
    }
    buf.target_score[i] = score;
  }
  const double sum = block_sum(static_cast<double>(score), shared);
  if (threadIdx.x == 0) buf.partials[blockIdx.x] = sum;
}

// One block of kThreads: out[t] = sum over blocks of partials[t * num_blocks + block],
// t < terms, each thread a fixed strided run, then the fixed tree.
__device__ void sum_partials(const double* partials, int num_blocks, int terms, double* out) {
  __shared__ double shared[kThreads];
  for (int t = 0; t < terms; ++t) {
    double run = 0.0;
    for (int j = static_cast<int>(threadIdx.x); j < num_blocks; j += kThreads)
      run += partials[static_cast<std::size_t>(t) * num_blocks + j];
    const double sum = block_sum(run, shared);
    if (threadIdx.x == 0) out[t] = sum;
  }
}

__global__ void score_sum_kernel(Buffers buf, int num_blocks) {
  sum_partials(buf.partials, num_blocks, 1, buf.score_sum);
}

// d(total)/d(term sum): gain * total_scale / tss (float, the CPU's TermScales).
struct TermScales {
  float cls, box, dfl, tss;
};

__device__ inline TermScales term_scales(const Params& p, const Buffers& buf) {
  const float tss = static_cast<float>(std::max(*buf.score_sum, 1.0));
  return {p.cls_gain * p.total_scale / tss, p.box_gain * p.total_scale / tss, p.dfl_gain * p.total_scale / tss,
          tss};
}

// box_and_dfl_terms of detect_loss.cpp for one foreground anchor; grad: null or the
// anchor's channel 0 (box channels written).
__device__ void box_and_dfl_terms(const float* logits, float* grad, std::size_t channel_stride, const Params& p,
                                  const TermScales& scales, const float* pred_box, const float* target_px,
                                  float weight, const AnchorSite& site, double& box_term, double& dfl_term) {
  const int reg_max = p.reg_max;
  const float target[4] = {target_px[0] / site.stride, target_px[1] / site.stride, target_px[2] / site.stride,
                           target_px[3] / site.stride};
  float dciou_dbox[4];
  const float ciou = ciou_xyxy(pred_box, target, dciou_dbox);
  box_term = static_cast<double>((1.0f - ciou) * weight);

  float target_ltrb[4];
  const float anchor[2] = {site.grid_x, site.grid_y};
  bbox_to_dist(target_ltrb, anchor, target, static_cast<float>(reg_max - 1 - 0.01));
  const float box_to_dist_sign[4] = {-1.0f, -1.0f, 1.0f, 1.0f};
  float side_sum = 0.0f;
  for (int side = 0; side < 4; ++side) {
    const float t = target_ltrb[side];
    const int left_bin = static_cast<int>(t), right_bin = left_bin + 1;
    const float left_weight = static_cast<float>(right_bin) - t, right_weight = 1.0f - left_weight;
    const float* l = logits + static_cast<std::size_t>(side) * reg_max * channel_stride;
    float max_logit = l[0];
    for (int k = 1; k < reg_max; ++k) max_logit = std::max(max_logit, l[k * channel_stride]);
    float exp_sum = 0.0f;
    for (int k = 0; k < reg_max; ++k) exp_sum += std::exp(l[k * channel_stride] - max_logit);
    const float lse = max_logit + std::log(exp_sum);
    side_sum += (lse - l[left_bin * channel_stride]) * left_weight + (lse - l[right_bin * channel_stride]) * right_weight;
    if (grad == nullptr) continue;
    float prob[kMaxRegMax];
    const float expectation = decode_side(logits, channel_stride, side, reg_max, prob);
    const float ddist = -scales.box * weight * box_to_dist_sign[side] * dciou_dbox[side];
    const float ddfl = scales.dfl * weight / 4.0f;
    float* g = grad + static_cast<std::size_t>(side) * reg_max * channel_stride;
    for (int k = 0; k < reg_max; ++k) {
      const float one_hot = (k == left_bin ? left_weight : 0.0f) + (k == right_bin ? right_weight : 0.0f);
      g[k * channel_stride] = ddist * prob[k] * (static_cast<float>(k) - expectation) + ddfl * (prob[k] - one_hot);
    }
  }
  dfl_term = static_cast<double>(side_sum / 4.0f * weight);
}

// One thread per (image, anchor): the three terms (partials: cls, box, dfl blocks) and
// every gradient element of the anchor. Exactly partial_blocks(B*A) blocks.
__global__ void loss_kernel(LevelMaps maps, Params p, Buffers buf) {
  __shared__ double shared[kThreads];
  const std::size_t total = static_cast<std::size_t>(buf.batch) * buf.num_anchors;
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(kThreads) + threadIdx.x;
  double cls_term = 0.0, box_term = 0.0, dfl_term = 0.0;
  if (i < total) {
    const int b = static_cast<int>(i / buf.num_anchors), a = static_cast<int>(i % buf.num_anchors);
    const AnchorSite site = buf.sites[a];
    const std::size_t offset = anchor_offset(maps, p, site, b);
    const std::size_t stride = maps.plane[site.level];
    const float* logits = maps.head[site.level] + offset;
    float* grad = maps.backward ? maps.grad[site.level] + offset : nullptr;
    const TermScales scales = term_scales(p, buf);
    const int g = buf.assigned_gt[i];
    const GtRow* gt = g >= 0 ? buf.gts + static_cast<std::size_t>(b) * buf.max_gts + g : nullptr;
    const int label = gt != nullptr ? std::max(gt->label, 0) : -1;
    const float score = buf.target_score[i];
    // BCE with logits (class_term).
    for (int c = 0; c < p.nc; ++c) {
      const float x = logits[static_cast<std::size_t>(4 * p.reg_max + c) * stride];
      const float t = c == label ? score : 0.0f;
      const float e = std::exp(-std::fabs(x));
      cls_term += static_cast<double>((1.0f - t) * x + std::max(-x, 0.0f) + std::log(1.0f + e));
      if (grad != nullptr) {
        const float sigmoid = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
        grad[static_cast<std::size_t>(4 * p.reg_max + c) * stride] = scales.cls * (sigmoid - t);
      }
    }
    if (gt == nullptr) {
      if (grad != nullptr)
        for (int c = 0; c < 4 * p.reg_max; ++c) grad[static_cast<std::size_t>(c) * stride] = 0.0f;
    } else {
      // The weight is the sum of the anchor's target scores: one non-zero, exactly `score`.
      box_and_dfl_terms(logits, grad, stride, p, scales, buf.pred_boxes + i * 4, gt->box, score, site, box_term,
                        dfl_term);
    }
  }
  const std::size_t num_blocks = gridDim.x;
  const double cls_sum = block_sum(cls_term, shared);
  const double box_sum = block_sum(box_term, shared);
  const double dfl_sum = block_sum(dfl_term, shared);
  if (threadIdx.x == 0) {
    buf.partials[blockIdx.x] = cls_sum;
    buf.partials[num_blocks + blockIdx.x] = box_sum;
    buf.partials[2 * num_blocks + blockIdx.x] = dfl_sum;
  }
}

// One block: items = box, cls, dfl (gains applied, / tss in double) and the total.
__global__ void items_kernel(Params p, Buffers buf, int num_blocks, float* items) {
  __shared__ double sums[3];
  sum_partials(buf.partials, num_blocks, 3, sums);
  __syncthreads();
  if (threadIdx.x != 0) return;
  const double tss = static_cast<double>(term_scales(p, buf).tss);
  const float cls = static_cast<float>(static_cast<double>(p.cls_gain) * (sums[0] / tss));
  const float box = static_cast<float>(static_cast<double>(p.box_gain) * (sums[1] / tss));
  const float dfl = static_cast<float>(static_cast<double>(p.dfl_gain) * (sums[2] / tss));
  items[0] = box;
  items[1] = cls;
  items[2] = dfl;
  items[3] = (box + cls + dfl) * p.total_scale;
}

int grid_for(std::size_t n) { return static_cast<int>(partial_blocks(n)); }

}  // namespace

void launch_assign(const LevelMaps& maps, const Params& params, const Buffers& buf, cudaStream_t stream) {
  const std::size_t anchors = static_cast<std::size_t>(buf.batch) * buf.num_anchors;
  decode_kernel<<<grid_for(anchors), kThreads, 0, stream>>>(maps, params, buf);
  CUDA_CHECK_LAUNCH("detect_loss decode_kernel");
  CUDA_CHECK(cudaMemsetAsync(buf.select_count, 0, anchors * sizeof(int), stream));
  CUDA_CHECK(cudaMemsetAsync(buf.first_gt, 0x7f, anchors * sizeof(int), stream));  // 0x7f7f7f7f: above any row
  const std::size_t gt_rows = static_cast<std::size_t>(buf.batch) * buf.max_gts;
  if (gt_rows > 0) {
    CUDA_CHECK(cudaMemsetAsync(buf.gt_max_align, 0, gt_rows * sizeof(int), stream));
    CUDA_CHECK(cudaMemsetAsync(buf.gt_max_overlap, 0, gt_rows * sizeof(int), stream));
    topk_kernel<<<grid_for(gt_rows * 32), kThreads, 0, stream>>>(maps, params, buf);
    CUDA_CHECK_LAUNCH("detect_loss topk_kernel");
    count_kernel<<<grid_for(gt_rows * params.topk), kThreads, 0, stream>>>(params, buf);
    CUDA_CHECK_LAUNCH("detect_loss count_kernel");
  }
  resolve_kernel<<<grid_for(anchors), kThreads, 0, stream>>>(maps, params, buf);
  CUDA_CHECK_LAUNCH("detect_loss resolve_kernel");
  const int blocks = grid_for(anchors);
  targets_kernel<<<blocks, kThreads, 0, stream>>>(buf);
  CUDA_CHECK_LAUNCH("detect_loss targets_kernel");
  score_sum_kernel<<<1, kThreads, 0, stream>>>(buf, blocks);
  CUDA_CHECK_LAUNCH("detect_loss score_sum_kernel");
}

void launch_loss(const LevelMaps& maps, const Params& params, const Buffers& buf, float* items,
                 cudaStream_t stream) {
  const int blocks = grid_for(static_cast<std::size_t>(buf.batch) * buf.num_anchors);
  loss_kernel<<<blocks, kThreads, 0, stream>>>(maps, params, buf);
  CUDA_CHECK_LAUNCH("detect_loss loss_kernel");
  items_kernel<<<1, kThreads, 0, stream>>>(params, buf, blocks, items);
  CUDA_CHECK_LAUNCH("detect_loss items_kernel");
}

}  // namespace shrike::kernels::detect_loss_device
