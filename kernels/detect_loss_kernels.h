// kernels/detect_loss_kernels.h
//
// The seam between DetectLossCuda (detect_loss_cuda.cpp, host C++20: validation, the
// GT table, buffers) and its kernels (detect_loss.cu). It exists because the CUDA
// sources compile as C++17 (cmake/ShrikeCuda.cmake) while detect_loss_cuda.h and
// detect_loss.h use std::span: this header is plain C++17 with raw device pointers, so
// both sides include it. Nothing here is meant for other callers.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace shrike::kernels::detect_loss_device {

inline constexpr int kMaxLevels = 8;   // head levels (the models use 3)
inline constexpr int kMaxTopk = 32;    // TAL top-k (the models use 10)
inline constexpr int kMaxRegMax = 64;  // DFL bins per side (the models use 16), as the CPU
inline constexpr int kThreads = 256;   // threads per block of the per-anchor kernels

// One anchor of the head maps (levels in order, row-major within a level): built once.
struct AnchorSite {
  int level;
  int cell;              // y * w + x within its level
  float grid_x, grid_y;  // x + 0.5, y + 0.5
  float stride;
};

// One row of the batch's GT table, (batch, max_gts), built on the host exactly as the
// CPU reference builds it: xyxy pixels, padding rows all zero with valid 0.
struct GtRow {
  float box[4];
  int label;
  int valid;
};

// The head maps (and optional gradients, all null: no backward pass) of the levels.
struct LevelMaps {
  const float* head[kMaxLevels];
  float* grad[kMaxLevels];
  int plane[kMaxLevels];  // h * w
  int num_levels;
  bool backward;
};

// The configuration as the kernels need it (DetectLossConfig and TalConfig rounded as
// the CPU rounds them).
struct Params {
  int nc, reg_max, topk;
  float alpha, beta;                    // TAL exponents
  bool alpha_is_sqrt, beta_is_sqrt;     // exponent 0.5: the CPU takes sqrt, not pow
  float box_gain, cls_gain, dfl_gain;
  float total_scale;                    // the multiplier of the differentiated total
};

// Device buffers of one DetectLossCuda (all device memory).
struct Buffers {
  int batch, num_anchors, max_gts;
  const AnchorSite* sites;   // (A)
  const GtRow* gts;          // (batch, max_gts)
  float* pred_boxes;         // (batch, A, 4) decoded, xyxy grid units
  int* positives;            // (batch, max_gts, topk) anchors selected by each GT, -1 = none
  int* select_count;         // (batch, A) how many GTs selected the anchor
  int* first_gt;             // (batch, A) lowest GT row that selected it
  int* assigned_gt;          // (batch, A) GT row after conflict resolution, -1 = background
  float* anchor_align;       // (batch, A) align metric of (assigned GT, anchor)
  int* gt_max_align;         // (batch, max_gts) float bits: max align over its positives
  int* gt_max_overlap;       // (batch, max_gts) float bits: max overlap over its positives
  float* target_score;       // (batch, A) the soft label of the assigned class, 0 on background
  double* partials;          // (3 * partial_blocks(batch * A)) per-block sums
  double* score_sum;         // (1) raw target-score sum (assign writes, compute reads)
};

// Blocks of kThreads over n anchors (the per-block partial sums each).
inline std::size_t partial_blocks(std::size_t n) { return (n + kThreads - 1) / kThreads; }

// Decode, TAL assignment, target scores and *score_sum. Queued on `stream`, no sync.
void launch_assign(const LevelMaps& maps, const Params& params, const Buffers& buffers, cudaStream_t stream);

// cls / box / dfl terms, gradients (maps.backward) and items[4] (box, cls, dfl, total).
void launch_loss(const LevelMaps& maps, const Params& params, const Buffers& buffers, float* items,
                 cudaStream_t stream);

}  // namespace shrike::kernels::detect_loss_device
