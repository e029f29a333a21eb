// kernels/detect_decode.cu
//
// The Detect head's inference decode on the GPU (see detect_decode_cuda.h), the CPU
// reference (detect_decode_cpu.cpp) step by step in fp32: per anchor the DFL
// expectation of each side (max, exp, sum, then sum of p / sum * k, in that order), the
// box (cx, cy, w, h) * stride, and per class the sigmoid. Two kernels: one thread per
// (image, anchor) for the box, one thread per output score (class fastest, so writes
// are coalesced) for the classes. expf is CUDA's (within 2 ulp), so results match the
// CPU to rounding, not bit for bit; the test states the tolerance.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda_check.h"
#include "kernels/detect_decode_cuda.h"

namespace shrike::kernels {
namespace {

constexpr int kMaxRegMax = 64;
constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 65536;

__device__ inline float load_float(const float* p) { return *p; }
__device__ inline float load_float(const __nv_bfloat16* p) { return __bfloat162float(*p); }

// The levels and where each one's anchors start in the anchor index.
template <typename T>
struct DecodeGeometry {
  DecodeLevelsCuda<T> levels;
  std::int64_t first_anchor[kMaxDecodeLevelsCuda + 1];  // first_anchor[count] = A
  int nc, reg_max;
};

// One anchor's place: its level, its cell within the level's plane, the cell's x and y.
struct AnchorPlace {
  int level;
  std::int64_t cell;
  int x, y;
};

template <typename T>
__device__ AnchorPlace anchor_place(const DecodeGeometry<T>& g, std::int64_t anchor) {
  int level = 0;
  while (level + 1 < g.levels.count && anchor >= g.first_anchor[level + 1]) ++level;
  AnchorPlace place;
  place.level = level;
  place.cell = anchor - g.first_anchor[level];
  place.x = static_cast<int>(place.cell % g.levels.w[level]);
  place.y = static_cast<int>(place.cell / g.levels.w[level]);
  return place;
}

// Channel 0 of (image b, cell) of the anchor's level.
template <typename T>
__device__ const T* first_channel(const DecodeGeometry<T>& g, const AnchorPlace& place, std::int64_t b) {
  const std::int64_t plane = static_cast<std::int64_t>(g.levels.h[place.level]) * g.levels.w[place.level];
  const std::int64_t channels = 4 * static_cast<std::int64_t>(g.reg_max) + g.nc;
  return g.levels.data[place.level] + b * channels * plane + place.cell;
}

// dfl_expectation of detect_decode_cpu.cpp in float: the exps are recomputed in the
// last pass rather than stored (same values), so no per-thread array is needed.
template <typename T>
__device__ float dfl_expectation(const T* logits, std::int64_t stride, int reg_max) {
  float max_logit = load_float(logits);
  for (int k = 1; k < reg_max; ++k) {
    const float v = load_float(logits + k * stride);
    max_logit = max_logit < v ? v : max_logit;  // std::max
  }
  float denominator = 0.0f;
  for (int k = 0; k < reg_max; ++k)
    denominator = __fadd_rn(denominator, expf(__fsub_rn(load_float(logits + k * stride), max_logit)));
  float expectation = 0.0f;
  for (int k = 0; k < reg_max; ++k) {
    const float prob = expf(__fsub_rn(load_float(logits + k * stride), max_logit));
    expectation = __fadd_rn(expectation, __fmul_rn(__fdiv_rn(prob, denominator), static_cast<float>(k)));
  }
  return expectation;
}

// out[(b, a), 0..3] = (cx, cy, w, h) in input pixels; one thread per (image, anchor).
template <typename T>
__global__ void decode_boxes_kernel(float* out, DecodeGeometry<T> g, std::int64_t batch) {
  const std::int64_t num_anchors = g.first_anchor[g.levels.count];
  const std::int64_t total = batch * num_anchors;
  const std::int64_t row_size = 4 + g.nc;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t b = i / num_anchors;
    const AnchorPlace place = anchor_place(g, i % num_anchors);
    const T* first = first_channel(g, place, b);
    const std::int64_t plane = static_cast<std::int64_t>(g.levels.h[place.level]) * g.levels.w[place.level];
    float dist[4];
    for (int side = 0; side < 4; ++side)
      dist[side] = dfl_expectation(first + static_cast<std::int64_t>(side) * g.reg_max * plane, plane, g.reg_max);
    const float ax = __fadd_rn(static_cast<float>(place.x), 0.5f), ay = __fadd_rn(static_cast<float>(place.y), 0.5f);
    const float x1 = __fsub_rn(ax, dist[0]), y1 = __fsub_rn(ay, dist[1]);
    const float x2 = __fadd_rn(ax, dist[2]), y2 = __fadd_rn(ay, dist[3]);
    const float s = static_cast<float>(g.levels.stride[place.level]);
    float* row = out + i * row_size;
    row[0] = __fmul_rn(__fdiv_rn(__fadd_rn(x1, x2), 2.0f), s);
    row[1] = __fmul_rn(__fdiv_rn(__fadd_rn(y1, y2), 2.0f), s);
    row[2] = __fmul_rn(__fsub_rn(x2, x1), s);
    row[3] = __fmul_rn(__fsub_rn(y2, y1), s);
  }
}

// out[(b, a), 4 + c] = sigmoid(class logit c); one thread per score, class fastest.
template <typename T>
__global__ void decode_scores_kernel(float* out, DecodeGeometry<T> g, std::int64_t batch) {
  const std::int64_t num_anchors = g.first_anchor[g.levels.count];
  const std::int64_t total = batch * num_anchors * g.nc;
  const std::int64_t row_size = 4 + g.nc;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t c = i % g.nc;
    const std::int64_t row = i / g.nc;  // b * A + a
    const AnchorPlace place = anchor_place(g, row % num_anchors);
    const std::int64_t plane = static_cast<std::int64_t>(g.levels.h[place.level]) * g.levels.w[place.level];
    const T* logit =
        first_channel(g, place, row / num_anchors) + (4 * static_cast<std::int64_t>(g.reg_max) + c) * plane;
    out[row * row_size + 4 + c] = __fdiv_rn(1.0f, __fadd_rn(1.0f, expf(-load_float(logit))));
  }
}

unsigned grid_for(std::int64_t total) {
  const std::int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

}  // namespace

template <typename T>
void detect_decode_levels_cuda(float* out, const DecodeLevelsCuda<T>& levels, int batch, int nc, int reg_max,
                               cudaStream_t stream) {
  if (reg_max < 1 || reg_max > kMaxRegMax)
    throw std::invalid_argument("detect_decode_cuda: reg_max " + std::to_string(reg_max) + " is outside [1, 64]");
  if (levels.count < 0 || levels.count > kMaxDecodeLevelsCuda)
    throw std::invalid_argument("detect_decode_cuda: " + std::to_string(levels.count) + " head levels, expected 0 to " +
                                std::to_string(kMaxDecodeLevelsCuda));
  if (batch < 0 || nc < 0)
    throw std::invalid_argument("detect_decode_cuda: batch " + std::to_string(batch) + " and nc " + std::to_string(nc) +
                                " must not be negative");
  DecodeGeometry<T> g{};
  g.levels = levels;
  g.nc = nc;
  g.reg_max = reg_max;
  g.first_anchor[0] = 0;
  for (int l = 0; l < levels.count; ++l) {
    if (levels.h[l] < 0 || levels.w[l] < 0)
      throw std::invalid_argument("detect_decode_cuda: level " + std::to_string(l) + " has shape " +
                                  std::to_string(levels.h[l]) + "x" + std::to_string(levels.w[l]));
    g.first_anchor[l + 1] = g.first_anchor[l] + static_cast<std::int64_t>(levels.h[l]) * levels.w[l];
  }
  const std::int64_t rows = static_cast<std::int64_t>(batch) * g.first_anchor[levels.count];
  if (rows == 0) return;
  decode_boxes_kernel<T><<<grid_for(rows), kThreads, 0, stream>>>(out, g, batch);
  CUDA_CHECK_LAUNCH("decode_boxes_kernel");
  if (nc == 0) return;
  decode_scores_kernel<T><<<grid_for(rows * nc), kThreads, 0, stream>>>(out, g, batch);
  CUDA_CHECK_LAUNCH("decode_scores_kernel");
}

template void detect_decode_levels_cuda<float>(float*, const DecodeLevelsCuda<float>&, int, int, int, cudaStream_t);
template void detect_decode_levels_cuda<__nv_bfloat16>(float*, const DecodeLevelsCuda<__nv_bfloat16>&, int, int, int,
                                                       cudaStream_t);

}  // namespace shrike::kernels
