// kernels/nms.cu
//
// The validation NMS on the GPU (see nms_cuda.h), equal to non_max_suppression_cpu
// (nms_cpu.cpp) box for box:
//   1. candidates: a flag per slot ((image, anchor, class) for multi-label, (image,
//      anchor) for best-class), an exclusive prefix sum and a scatter, so the candidates
//      keep the CPU's order (images, then anchors, then classes) without atomics;
//   2.+3. one stable radix sort of the whole batch on the key (image, score descending)
//      gives each image's candidates in the greedy pass's order (the CPU's two stable
//      sorts by score compose to this one); its first max_nms go in;
//   3. per image, torchvision's CUDA NMS: a bitmask of "box i suppresses later box j"
//      over 64-box blocks, then one block walks it greedily with the removed set in
//      shared memory, stopping after max_det kept boxes (the CPU keeps the first max_det
//      of the same walk);
//   4. the kept candidates' boxes, scores and classes are gathered and copied back.
// The float arithmetic (xywh -> xyxy, class offsets, areas, IoU) is the CPU's, written
// with round-to-nearest intrinsics so nvcc does not contract it into FMAs; the IoU is
// compared in double as on the CPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cub/cub.cuh>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda_check.h"
#include "kernels/device_array.h"
#include "kernels/nms_cuda.h"

namespace shrike::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 65536;
constexpr int kBoxesPerWord = 64;
constexpr int kGreedyThreads = 256;
constexpr int kMaxSharedBytes = 48 * 1024;
// The greedy pass keeps its removed set (one bit per box) in 48 KiB of shared memory.
constexpr int kMaxGreedyBoxes = kMaxSharedBytes / 8 * kBoxesPerWord;

using Word = unsigned long long;

// Where the slots of the batch come from.
struct SlotSource {
  const float* predictions;  // (batch, A, 4 + nc)
  int nc;
  int slots_per_anchor;  // nc for multi-label, 1 for best-class
  std::int64_t slots_per_image;
  bool multi_label;
  float conf_thres;
};

// std::min / std::max exactly (the first argument wins ties and NaNs as there).
__device__ inline float min_like_std(float a, float b) { return b < a ? b : a; }
__device__ inline float max_like_std(float a, float b) { return a < b ? b : a; }

// The first maximal class (std::max_element).
__device__ inline int best_class(const float* scores, int nc) {
  int best = 0;
  for (int c = 1; c < nc; ++c)
    if (scores[best] < scores[c]) best = c;
  return best;
}

// Slot `slot` of the batch: its prediction row, its class, whether it is a candidate.
struct Slot {
  const float* row;
  int cls;
  bool candidate;
};

__device__ inline Slot read_slot(const SlotSource& s, std::int64_t slot) {
  const std::int64_t row_index = slot / s.slots_per_anchor;  // image * A + anchor
  Slot out;
  out.row = s.predictions + row_index * (4 + s.nc);
  out.cls = s.multi_label ? static_cast<int>(slot % s.slots_per_anchor) : best_class(out.row + 4, s.nc);
  out.candidate = out.row[4 + out.cls] > s.conf_thres;
  return out;
}

// Sort key: image (high 32 bits), then score descending. Adding +0 turns -0 into +0, so
// equal scores get equal keys; the flipped bits order floats as numbers.
__device__ inline std::uint64_t sort_key(std::int64_t image, float score) {
  std::uint32_t bits = __float_as_uint(__fadd_rn(score, 0.0f));
  bits = (bits & 0x80000000u) != 0 ? ~bits : (bits | 0x80000000u);
  return (static_cast<std::uint64_t>(image) << 32) | static_cast<std::uint32_t>(~bits);
}

__global__ void flag_candidates_kernel(int* flags, SlotSource s, std::int64_t total_slots) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total_slots;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    flags[i] = read_slot(s, i).candidate ? 1 : 0;
}

// boundaries[b] = index of image b's first candidate; boundaries[batch] = their count.
__global__ void image_boundaries_kernel(int* boundaries, const int* flags, const int* positions, int batch,
                                        std::int64_t slots_per_image) {
  const std::int64_t last = static_cast<std::int64_t>(batch) * slots_per_image - 1;
  for (int b = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); b <= batch; b += gridDim.x * blockDim.x)
    boundaries[b] = b < batch ? positions[b * slots_per_image] : positions[last] + flags[last];
}

// Candidate positions[slot] gets its xyxy box, score, class, and its sort key and index.
__global__ void scatter_candidates_kernel(float4* boxes, float* scores, int* classes, std::uint64_t* keys, int* indices,
                                          const int* flags, const int* positions, SlotSource s,
                                          std::int64_t total_slots) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total_slots;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    if (flags[i] == 0) continue;
    const Slot slot = read_slot(s, i);
    const int p = positions[i];
    const float* xywh = slot.row;
    const float half_w = __fdiv_rn(xywh[2], 2.0f), half_h = __fdiv_rn(xywh[3], 2.0f);  // xywh_to_xyxy
    boxes[p] = make_float4(__fsub_rn(xywh[0], half_w), __fsub_rn(xywh[1], half_h), __fadd_rn(xywh[0], half_w),
                           __fadd_rn(xywh[1], half_h));
    const float score = slot.row[4 + slot.cls];
    scores[p] = score;
    classes[p] = slot.cls;
    keys[p] = sort_key(i / s.slots_per_image, score);
    indices[p] = p;
  }
}

// The image's first n candidates in greedy order, class-offset, with their areas.
__global__ void rank_boxes_kernel(float4* ranked, float* areas, const int* sorted, int first, int n,
                                  const float4* boxes, const int* classes, float max_wh, bool agnostic) {
  for (int r = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); r < n; r += gridDim.x * blockDim.x) {
    const int c = sorted[first + r];
    const float offset = agnostic ? 0.0f : __fmul_rn(static_cast<float>(classes[c]), max_wh);
    const float4 b = boxes[c];
    const float4 o =
        make_float4(__fadd_rn(b.x, offset), __fadd_rn(b.y, offset), __fadd_rn(b.z, offset), __fadd_rn(b.w, offset));
    ranked[r] = o;
    areas[r] = __fmul_rn(__fsub_rn(o.z, o.x), __fsub_rn(o.w, o.y));  // box_area of nms_cpu.cpp
  }
}

// nms_greedy_cpu's test with `a` the kept box and `b` the later one.
__device__ inline bool suppresses(float4 a, float area_a, float4 b, float area_b, double iou_thres) {
  const float w = max_like_std(0.0f, __fsub_rn(min_like_std(a.z, b.z), max_like_std(a.x, b.x)));
  const float h = max_like_std(0.0f, __fsub_rn(min_like_std(a.w, b.w), max_like_std(a.y, b.y)));
  const float inter = __fmul_rn(w, h);
  const float overlap = __fdiv_rn(inter, __fsub_rn(__fadd_rn(area_a, area_b), inter));
  return static_cast<double>(overlap) > iou_thres;
}

// mask[i * col_blocks + cb] bit k: box i suppresses box cb * 64 + k (> i). Block
// (cb, rb) of 64 threads fills rows rb * 64 .. for column block cb >= rb.
__global__ void iou_mask_kernel(Word* mask, const float4* ranked, const float* areas, int n, int col_blocks,
                                double iou_thres) {
  const int row_block = static_cast<int>(blockIdx.y), col_block = static_cast<int>(blockIdx.x);
  if (col_block < row_block) return;  // uniform per block
  const int row_size = min(n - row_block * kBoxesPerWord, kBoxesPerWord);
  const int col_size = min(n - col_block * kBoxesPerWord, kBoxesPerWord);
  __shared__ float4 col_boxes[kBoxesPerWord];
  __shared__ float col_areas[kBoxesPerWord];
  const int t = static_cast<int>(threadIdx.x);
  if (t < col_size) {
    col_boxes[t] = ranked[col_block * kBoxesPerWord + t];
    col_areas[t] = areas[col_block * kBoxesPerWord + t];
  }
  __syncthreads();
  if (t >= row_size) return;
  const int i = row_block * kBoxesPerWord + t;
  const float4 box = ranked[i];
  const float area = areas[i];
  Word bits = 0;
  for (int k = row_block == col_block ? t + 1 : 0; k < col_size; ++k)
    if (suppresses(box, area, col_boxes[k], col_areas[k], iou_thres)) bits |= Word{1} << k;
  mask[static_cast<std::size_t>(i) * col_blocks + col_block] = bits;
}

// The greedy walk of one image, one block: box i is kept unless a kept box removed it;
// keeping it removes its mask row. Stops after max_keep kept boxes. Every thread reads
// the same removed bit after the last barrier, so the control flow is uniform.
__global__ void greedy_kernel(int* keep_rank, int* keep_count, const Word* mask, int n, int col_blocks, int max_keep) {
  extern __shared__ Word removed[];
  for (int w = static_cast<int>(threadIdx.x); w < col_blocks; w += blockDim.x) removed[w] = 0;
  __syncthreads();
  int kept = 0;
  for (int i = 0; i < n && kept < max_keep; ++i) {
    if ((removed[i / kBoxesPerWord] >> (i % kBoxesPerWord)) & 1ULL) continue;
    if (threadIdx.x == 0) keep_rank[kept] = i;
    ++kept;
    __syncthreads();  // all threads have read removed[i / 64] before it changes
    const Word* row = mask + static_cast<std::size_t>(i) * col_blocks;
    for (int w = i / kBoxesPerWord + static_cast<int>(threadIdx.x); w < col_blocks; w += blockDim.x)
      removed[w] |= row[w];
    __syncthreads();
  }
  if (threadIdx.x == 0) *keep_count = kept;
}

// out[b * capacity + k] for the first keep_count[b] kept boxes of each image.
__global__ void gather_detections_kernel(Detection* out, const int* keep_rank, const int* keep_count,
                                         const int* boundaries, const int* sorted, const float4* boxes,
                                         const float* scores, const int* classes, int batch, int capacity) {
  const std::int64_t total = static_cast<std::int64_t>(batch) * capacity;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const int b = static_cast<int>(i / capacity), k = static_cast<int>(i % capacity);
    if (k >= keep_count[b]) continue;
    const int c = sorted[boundaries[b] + keep_rank[i]];
    const float4 box = boxes[c];
    out[i] = Detection{box.x, box.y, box.z, box.w, scores[c], classes[c]};
  }
}

unsigned grid_for(std::int64_t total) {
  const std::int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::min<std::int64_t>(std::max<std::int64_t>(blocks, 1), kMaxBlocks));
}

int bit_width(unsigned value) {
  int bits = 0;
  while (value != 0) ++bits, value >>= 1;
  return bits;
}

// Step 1 on the device, then the per-image candidate ranges on the host.
struct Candidates {
  DeviceArray<float4> boxes;
  DeviceArray<float> scores;
  DeviceArray<int> classes;
  DeviceArray<int> sorted;      // candidate indices, each image's in greedy order
  DeviceArray<int> boundaries;  // (batch + 1), device
  std::vector<int> host_boundaries;
  // Scratch, kept alive until the caller's final synchronisation (no free while in use).
  DeviceArray<int> flags, positions, indices;
  DeviceArray<std::uint64_t> keys, sorted_keys;
  DeviceArray<unsigned char> scan_temp, sort_temp;
};

Candidates collect_and_sort(const float* predictions, int batch, int num_anchors, int nc, const NmsConfig& config,
                            cudaStream_t stream) {
  const bool multi_label = config.multi_label && nc > 1;
  SlotSource source{predictions, nc, multi_label ? nc : 1, 0, multi_label, config.conf_thres};
  source.slots_per_image = static_cast<std::int64_t>(num_anchors) * source.slots_per_anchor;
  const std::int64_t total_slots = source.slots_per_image * batch;
  if (total_slots > std::numeric_limits<int>::max())
    throw std::invalid_argument("non_max_suppression_cuda: batch " + std::to_string(batch) + " x anchors " +
                                std::to_string(num_anchors) + " x slots " + std::to_string(source.slots_per_anchor) +
                                " is above 2^31 - 1; split the batch");
  const int slots = static_cast<int>(total_slots);
  Candidates c;
  c.flags.resize(slots);
  c.positions.resize(slots);
  flag_candidates_kernel<<<grid_for(slots), kThreads, 0, stream>>>(c.flags.data(), source, slots);
  CUDA_CHECK_LAUNCH("flag_candidates_kernel");
  std::size_t bytes = 0;
  CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, bytes, c.flags.data(), c.positions.data(), slots, stream));
  c.scan_temp.resize(std::max<std::size_t>(bytes, 1));
  CUDA_CHECK(
      cub::DeviceScan::ExclusiveSum(c.scan_temp.data(), bytes, c.flags.data(), c.positions.data(), slots, stream));
  c.boundaries.resize(static_cast<std::size_t>(batch) + 1);
  image_boundaries_kernel<<<grid_for(batch + 1), kThreads, 0, stream>>>(
      c.boundaries.data(), c.flags.data(), c.positions.data(), batch, source.slots_per_image);
  CUDA_CHECK_LAUNCH("image_boundaries_kernel");
  c.host_boundaries.resize(static_cast<std::size_t>(batch) + 1);
  c.boundaries.download(c.host_boundaries.data(), c.host_boundaries.size(), stream);
  CUDA_CHECK(cudaStreamSynchronize(stream));
  for (int b = 0; b < batch; ++b) {  // checked before more work is queued
    const int n = std::min(c.host_boundaries[b + 1] - c.host_boundaries[b], config.max_nms);
    if (n > kMaxGreedyBoxes)
      throw std::invalid_argument("non_max_suppression_cuda: " + std::to_string(n) + " boxes into NMS for image " +
                                  std::to_string(b) + " (max_nms " + std::to_string(config.max_nms) + "); at most " +
                                  std::to_string(kMaxGreedyBoxes) + " are supported");
  }
  const int count = c.host_boundaries.back();
  if (count == 0) return c;

  c.boxes.resize(count);
  c.scores.resize(count);
  c.classes.resize(count);
  c.sorted.resize(count);
  c.keys.resize(count);
  c.sorted_keys.resize(count);
  c.indices.resize(count);
  scatter_candidates_kernel<<<grid_for(slots), kThreads, 0, stream>>>(c.boxes.data(), c.scores.data(), c.classes.data(),
                                                                      c.keys.data(), c.indices.data(), c.flags.data(),
                                                                      c.positions.data(), source, slots);
  CUDA_CHECK_LAUNCH("scatter_candidates_kernel");
  const int end_bit = 32 + bit_width(static_cast<unsigned>(batch - 1));
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, c.keys.data(), c.sorted_keys.data(), c.indices.data(),
                                             c.sorted.data(), count, 0, end_bit, stream));
  c.sort_temp.resize(std::max<std::size_t>(bytes, 1));
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(c.sort_temp.data(), bytes, c.keys.data(), c.sorted_keys.data(),
                                             c.indices.data(), c.sorted.data(), count, 0, end_bit,
                                             stream));  // stable: equal keys keep candidate order
  return c;
}

}  // namespace

std::vector<std::vector<Detection>> non_max_suppression_cuda(const float* predictions_device, int batch,
                                                             int num_anchors, int nc, const NmsConfig& config,
                                                             cudaStream_t stream) {
  std::vector<std::vector<Detection>> out(static_cast<std::size_t>(std::max(batch, 0)));
  if (batch <= 0 || num_anchors <= 0 || nc <= 0 || config.max_det <= 0 || config.max_nms <= 0) return out;
  Candidates c = collect_and_sort(predictions_device, batch, num_anchors, nc, config, stream);

  // Boxes into each image's greedy pass: its first max_nms candidates.
  std::vector<int> first(batch), n(batch);
  int max_n = 0;
  for (int b = 0; b < batch; ++b) {
    first[b] = c.host_boundaries[b];
    n[b] = std::min(c.host_boundaries[b + 1] - c.host_boundaries[b], config.max_nms);  // <= kMaxGreedyBoxes
    max_n = std::max(max_n, n[b]);
  }
  if (max_n == 0) return out;

  const int capacity = std::min(config.max_det, max_n);  // kept boxes per image, at most
  const int max_col_blocks = (max_n + kBoxesPerWord - 1) / kBoxesPerWord;
  DeviceArray<float4> ranked(max_n);
  DeviceArray<float> areas(max_n);
  DeviceArray<Word> mask(static_cast<std::size_t>(max_n) * max_col_blocks);
  DeviceArray<int> keep_rank(static_cast<std::size_t>(batch) * capacity), keep_count(batch);
  keep_count.zero(stream);
  // One image at a time on the stream: the ranked boxes and the mask are reused.
  for (int b = 0; b < batch; ++b) {
    if (n[b] == 0) continue;
    const int col_blocks = (n[b] + kBoxesPerWord - 1) / kBoxesPerWord;
    rank_boxes_kernel<<<grid_for(n[b]), kThreads, 0, stream>>>(ranked.data(), areas.data(), c.sorted.data(), first[b],
                                                               n[b], c.boxes.data(), c.classes.data(), config.max_wh,
                                                               config.agnostic);
    CUDA_CHECK_LAUNCH("rank_boxes_kernel");
    iou_mask_kernel<<<dim3(col_blocks, col_blocks), kBoxesPerWord, 0, stream>>>(
        mask.data(), ranked.data(), areas.data(), n[b], col_blocks, config.iou_thres);
    CUDA_CHECK_LAUNCH("iou_mask_kernel");
    greedy_kernel<<<1, kGreedyThreads, col_blocks * sizeof(Word), stream>>>(
        keep_rank.data() + static_cast<std::size_t>(b) * capacity, keep_count.data() + b, mask.data(), n[b], col_blocks,
        capacity);
    CUDA_CHECK_LAUNCH("greedy_kernel");
  }
  DeviceArray<Detection> detections(static_cast<std::size_t>(batch) * capacity);
  gather_detections_kernel<<<grid_for(static_cast<std::int64_t>(batch) * capacity), kThreads, 0, stream>>>(
      detections.data(), keep_rank.data(), keep_count.data(), c.boundaries.data(), c.sorted.data(), c.boxes.data(),
      c.scores.data(), c.classes.data(), batch, capacity);
  CUDA_CHECK_LAUNCH("gather_detections_kernel");

  std::vector<int> host_count(batch);
  std::vector<Detection> host_detections(detections.size());
  keep_count.download(host_count.data(), host_count.size(), stream);
  detections.download(host_detections.data(), host_detections.size(), stream);
  CUDA_CHECK(cudaStreamSynchronize(stream));
  for (int b = 0; b < batch; ++b) {
    const auto begin = host_detections.begin() + static_cast<std::ptrdiff_t>(b) * capacity;
    out[b].assign(begin, begin + host_count[b]);
  }
  return out;
}

}  // namespace shrike::kernels
