// kernels/detect_decode_cpu.cpp
//
// CPU reference of the Detect inference decode (see detect_decode.h): one pass over
// (batch, anchor), each row independent, so results do not depend on the thread count.
#include "kernels/detect_decode.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace shrike::kernels {
namespace {

constexpr int kMaxRegMax = 64;

// Where one anchor lives: its level, cell offset within the level's plane, and its
// centre in grid units.
struct AnchorCell {
  int level;
  std::size_t cell;
  int grid_x, grid_y;
};

template <typename T>
std::vector<AnchorCell> anchor_cells(std::span<const HeadLevel<T>> levels) {
  std::vector<AnchorCell> cells;
  cells.reserve(detect_anchor_count(levels));
  for (int l = 0; l < static_cast<int>(levels.size()); ++l)
    for (int y = 0; y < levels[l].h; ++y)
      for (int x = 0; x < levels[l].w; ++x)
        cells.push_back({l, static_cast<std::size_t>(y) * levels[l].w + x, x, y});
  return cells;
}

// Expectation of the bin index under the softmax of reg_max logits spaced `stride` apart.
template <typename T>
T dfl_expectation(const T* logits, std::size_t stride, int reg_max) {
  T max_logit = logits[0];
  for (int k = 1; k < reg_max; ++k) max_logit = std::max(max_logit, logits[k * stride]);
  T prob[kMaxRegMax];
  T denominator = T(0);
  for (int k = 0; k < reg_max; ++k) {
    prob[k] = std::exp(logits[k * stride] - max_logit);
    denominator += prob[k];
  }
  T expectation = T(0);
  for (int k = 0; k < reg_max; ++k) expectation += prob[k] / denominator * static_cast<T>(k);
  return expectation;
}

// One anchor's row [cx, cy, w, h, scores...]; `first` points at channel 0 of its cell.
template <typename T>
void decode_anchor(const T* first, std::size_t plane, const AnchorCell& cell, int stride, int nc, int reg_max,
                   T* row) {
  T dist[4];
  for (int side = 0; side < 4; ++side)
    dist[side] = dfl_expectation(first + static_cast<std::size_t>(side) * reg_max * plane, plane, reg_max);
  const T ax = static_cast<T>(cell.grid_x) + T(0.5), ay = static_cast<T>(cell.grid_y) + T(0.5);
  const T x1 = ax - dist[0], y1 = ay - dist[1], x2 = ax + dist[2], y2 = ay + dist[3];
  const T s = static_cast<T>(stride);
  row[0] = (x1 + x2) / T(2) * s;
  row[1] = (y1 + y2) / T(2) * s;
  row[2] = (x2 - x1) * s;
  row[3] = (y2 - y1) * s;
  const T* cls = first + static_cast<std::size_t>(4) * reg_max * plane;
  for (int c = 0; c < nc; ++c) row[4 + c] = T(1) / (T(1) + std::exp(-cls[c * plane]));
}

}  // namespace

template <typename T>
void detect_decode_cpu(std::span<const HeadLevel<T>> levels, int batch, int nc, int reg_max, T* out) {
  if (reg_max < 1 || reg_max > kMaxRegMax)
    throw std::invalid_argument("detect_decode_cpu: reg_max " + std::to_string(reg_max) + " is outside [1, 64]");
  const std::vector<AnchorCell> cells = anchor_cells(levels);
  const std::int64_t num_anchors = static_cast<std::int64_t>(cells.size());
  const std::int64_t total = static_cast<std::int64_t>(batch) * num_anchors;
  const int channels = 4 * reg_max + nc;
#pragma omp parallel for schedule(static) if (total >= 4096)
  for (std::int64_t i = 0; i < total; ++i) {
    const std::int64_t b = i / num_anchors;
    const AnchorCell& cell = cells[static_cast<std::size_t>(i % num_anchors)];
    const HeadLevel<T>& level = levels[cell.level];
    const std::size_t plane = static_cast<std::size_t>(level.h) * level.w;
    const T* first = level.data + static_cast<std::size_t>(b) * channels * plane + cell.cell;
    decode_anchor(first, plane, cell, level.stride, nc, reg_max, out + static_cast<std::size_t>(i) * (4 + nc));
  }
}

#define SHRIKE_INSTANTIATE_DETECT_DECODE(T) \
  template void detect_decode_cpu<T>(std::span<const HeadLevel<T>>, int, int, int, T*);
SHRIKE_INSTANTIATE_DETECT_DECODE(float)
SHRIKE_INSTANTIATE_DETECT_DECODE(double)
#undef SHRIKE_INSTANTIATE_DETECT_DECODE

}  // namespace shrike::kernels
