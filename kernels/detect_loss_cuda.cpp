// kernels/detect_loss_cuda.cpp
//
// DetectLossCuda (detect_loss_cuda.h): the host side of the v8 loss on the GPU. It
// owns the device buffers, validates the targets, builds the batch's GT table on the
// host exactly as the CPU reference does (same float arithmetic, so the GT boxes are
// bit-identical and the in-box tests agree), uploads it from a pinned copy, and queues
// the kernels of detect_loss.cu. A separate C++20 file because detect_loss_cuda.h uses
// std::span and the CUDA sources compile as C++17 (see detect_loss_kernels.h).
#include "kernels/detect_loss_cuda.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/box_iou.h"
#include "kernels/cuda_check.h"
#include "kernels/detect_loss_kernels.h"
#include "kernels/device_array.h"

namespace shrike::kernels {

namespace dev = detect_loss_device;

struct DetectLossCuda::Impl {
  DetectLossConfig config;
  int batch = 0, num_anchors = 0, max_gts = 0;
  std::vector<LevelShape> levels;
  bool assigned = false;

  DeviceArray<dev::AnchorSite> sites;
  DeviceArray<float> pred_boxes, anchor_align, target_score;
  DeviceArray<int> select_count, first_gt, assigned_gt;
  DeviceArray<double> partials, score_sum;
  // Sized by the largest max_gts seen (grown, never shrunk).
  DeviceArray<dev::GtRow> gts;
  DeviceArray<int> positives, gt_max_align, gt_max_overlap;

  // The pinned staging copy of the GT table; upload_done marks when the last
  // asynchronous copy from it finished, so it is never overwritten while in flight.
  dev::GtRow* pinned = nullptr;
  std::size_t pinned_rows = 0;
  cudaEvent_t upload_done = nullptr;

  ~Impl() {
    if (upload_done != nullptr) {
      cudaEventSynchronize(upload_done);  // never throws: a destructor
      cudaEventDestroy(upload_done);
    }
    if (pinned != nullptr) cudaFreeHost(pinned);
  }

  dev::Params params() const {
    dev::Params p{};
    p.nc = config.nc;
    p.reg_max = config.reg_max;
    p.topk = config.topk;
    // TalConfig holds the exponents as doubles made from these floats; the CPU's
    // power() takes sqrt for exactly 0.5 and pow(base, float(exponent)) otherwise.
    p.alpha = config.alpha;
    p.beta = config.beta;
    p.alpha_is_sqrt = static_cast<double>(config.alpha) == 0.5;
    p.beta_is_sqrt = static_cast<double>(config.beta) == 0.5;
    p.box_gain = config.box_gain;
    p.cls_gain = config.cls_gain;
    p.dfl_gain = config.dfl_gain;
    p.total_scale = static_cast<float>(config.total_scale > 0 ? config.total_scale : batch);
    return p;
  }

  dev::Buffers buffers() {
    return {batch,
            num_anchors,
            max_gts,
            sites.data(),
            gts.data(),
            pred_boxes.data(),
            positives.data(),
            select_count.data(),
            first_gt.data(),
            assigned_gt.data(),
            anchor_align.data(),
            gt_max_align.data(),
            gt_max_overlap.data(),
            target_score.data(),
            partials.data(),
            score_sum.data()};
  }

  dev::LevelMaps maps(std::span<const float* const> heads, std::span<float* const> grads, const char* who) const {
    if (heads.size() != levels.size())
      throw std::invalid_argument(std::string("DetectLossCuda::") + who + ": " + std::to_string(heads.size()) +
                                  " head maps for " + std::to_string(levels.size()) + " levels");
    if (!grads.empty() && grads.size() != levels.size())
      throw std::invalid_argument(std::string("DetectLossCuda::") + who + ": " + std::to_string(grads.size()) +
                                  " gradient buffers for " + std::to_string(levels.size()) + " levels");
    dev::LevelMaps m{};
    m.num_levels = static_cast<int>(levels.size());
    // As the CPU: an empty span, or any null buffer, skips the backward pass.
    m.backward = !grads.empty() && std::all_of(grads.begin(), grads.end(), [](float* g) { return g != nullptr; });
    for (std::size_t l = 0; l < levels.size(); ++l) {
      if (heads[l] == nullptr)
        throw std::invalid_argument(std::string("DetectLossCuda::") + who + ": head map " + std::to_string(l) +
                                    " is null");
      m.head[l] = heads[l];
      m.grad[l] = m.backward ? grads[l] : nullptr;
      m.plane[l] = levels[l].h * levels[l].w;
    }
    return m;
  }

  // The CPU's build_gt_table (detect_loss.cpp), rows padded per image to max_gts.
  std::vector<dev::GtRow> gt_table(const float* targets, int num_targets) {
    const float image_h = static_cast<float>(levels[0].h * levels[0].stride);
    const float image_w = static_cast<float>(levels[0].w * levels[0].stride);
    std::vector<int> counts(batch, 0);
    for (int i = 0; i < num_targets; ++i) ++counts[static_cast<int>(targets[6 * i])];
    max_gts = num_targets == 0 ? 0 : *std::max_element(counts.begin(), counts.end());
    std::vector<dev::GtRow> table(static_cast<std::size_t>(batch) * max_gts, dev::GtRow{{0, 0, 0, 0}, 0, 0});
    std::fill(counts.begin(), counts.end(), 0);
    for (int i = 0; i < num_targets; ++i) {
      const float* row = targets + 6 * i;
      const int image = static_cast<int>(row[0]);
      dev::GtRow& gt = table[static_cast<std::size_t>(image) * max_gts + counts[image]++];
      const float xywh[4] = {row[2] * image_w, row[3] * image_h, row[4] * image_w, row[5] * image_h};
      xywh_to_xyxy(gt.box, xywh);
      gt.label = static_cast<int>(row[1]);
      gt.valid = (gt.box[0] + gt.box[1] + gt.box[2] + gt.box[3]) > 0.0f;
    }
    return table;
  }

  // Grows the GT-sized buffers; waits for the stream first, since queued kernels may
  // still read the old ones (happens only while max_gts reaches a new high).
  void reserve_gt_rows(std::size_t rows, cudaStream_t stream) {
    const std::size_t slots = rows * static_cast<std::size_t>(config.topk);
    if (gts.size() >= rows && positives.size() >= slots) return;
    CUDA_CHECK(cudaStreamSynchronize(stream));
    gts.resize(rows);
    positives.resize(slots);
    gt_max_align.resize(rows);
    gt_max_overlap.resize(rows);
  }

  void upload_gts(const std::vector<dev::GtRow>& table, cudaStream_t stream) {
    if (table.empty()) return;
    CUDA_CHECK(cudaEventSynchronize(upload_done));  // the previous copy from `pinned` is done
    if (pinned_rows < table.size()) {
      if (pinned != nullptr) CUDA_CHECK(cudaFreeHost(pinned));
      pinned = nullptr;
      pinned_rows = 0;
      CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&pinned), table.size() * sizeof(dev::GtRow)));
      pinned_rows = table.size();
    }
    std::memcpy(pinned, table.data(), table.size() * sizeof(dev::GtRow));
    gts.upload(pinned, table.size(), stream);
    CUDA_CHECK(cudaEventRecord(upload_done, stream));
  }
};

DetectLossCuda::DetectLossCuda(const DetectLossConfig& config, int batch, std::span<const LevelShape> levels)
    : impl_(std::make_unique<Impl>()) {
  if (batch <= 0) throw std::invalid_argument("DetectLossCuda: batch must be positive, got " + std::to_string(batch));
  if (levels.empty() || levels.size() > static_cast<std::size_t>(dev::kMaxLevels))
    throw std::invalid_argument("DetectLossCuda: needs 1.." + std::to_string(dev::kMaxLevels) + " head levels, got " +
                                std::to_string(levels.size()));
  if (config.reg_max < 2 || config.reg_max > dev::kMaxRegMax || config.nc < 1)
    throw std::invalid_argument("DetectLossCuda: needs 2 <= reg_max <= " + std::to_string(dev::kMaxRegMax) +
                                " and nc >= 1 (got reg_max " + std::to_string(config.reg_max) + ", nc " +
                                std::to_string(config.nc) + ")");
  if (config.topk < 1 || config.topk > dev::kMaxTopk)
    throw std::invalid_argument("DetectLossCuda: needs 1 <= topk <= " + std::to_string(dev::kMaxTopk) + ", got " +
                                std::to_string(config.topk));
  Impl& s = *impl_;
  s.config = config;
  s.batch = batch;
  s.levels.assign(levels.begin(), levels.end());
  std::vector<dev::AnchorSite> sites;
  for (std::size_t l = 0; l < levels.size(); ++l) {
    const LevelShape& level = levels[l];
    if (level.h <= 0 || level.w <= 0 || level.stride <= 0)
      throw std::invalid_argument("DetectLossCuda: head level " + std::to_string(l) +
                                  " has a non-positive size or stride");
    for (int y = 0; y < level.h; ++y)
      for (int x = 0; x < level.w; ++x)
        sites.push_back({static_cast<int>(l), y * level.w + x, static_cast<float>(x) + 0.5f,
                         static_cast<float>(y) + 0.5f, static_cast<float>(level.stride)});
  }
  s.num_anchors = static_cast<int>(sites.size());
  const std::size_t anchors = static_cast<std::size_t>(batch) * s.num_anchors;
  s.sites.resize(sites.size());
  CUDA_CHECK(cudaMemcpy(s.sites.data(), sites.data(), s.sites.bytes(), cudaMemcpyHostToDevice));
  s.pred_boxes.resize(anchors * 4);
  s.anchor_align.resize(anchors);
  s.target_score.resize(anchors);
  s.select_count.resize(anchors);
  s.first_gt.resize(anchors);
  s.assigned_gt.resize(anchors);
  s.partials.resize(3 * dev::partial_blocks(anchors));
  s.score_sum.resize(1);
  CUDA_CHECK(cudaEventCreateWithFlags(&s.upload_done, cudaEventDisableTiming));
}

DetectLossCuda::~DetectLossCuda() = default;

void DetectLossCuda::validate_targets(const float* host_targets, int num_targets) const {
  const int batch = impl_->batch, nc = impl_->config.nc;
  if (num_targets < 0 || (num_targets > 0 && host_targets == nullptr))
    throw std::invalid_argument("detect_loss: " + std::to_string(num_targets) + " targets but no target rows");
  for (int i = 0; i < num_targets; ++i) {
    const float* row = host_targets + 6 * i;
    const int image = static_cast<int>(row[0]), label = static_cast<int>(row[1]);
    if (image < 0 || image >= batch || static_cast<float>(image) != row[0])
      throw std::invalid_argument("detect_loss: target row " + std::to_string(i) + " has image index " +
                                  std::to_string(row[0]) + ", outside the batch of " + std::to_string(batch));
    if (label < 0 || label >= nc || static_cast<float>(label) != row[1])
      throw std::invalid_argument("detect_loss: target row " + std::to_string(i) + " has class " +
                                  std::to_string(row[1]) + ", outside 0.." + std::to_string(nc - 1));
  }
}

void DetectLossCuda::assign(std::span<const float* const> heads, const float* host_targets, int num_targets,
                            cudaStream_t stream) {
  Impl& s = *impl_;
  const dev::LevelMaps maps = s.maps(heads, {}, "assign");
  validate_targets(host_targets, num_targets);
  const std::vector<dev::GtRow> table = s.gt_table(host_targets, num_targets);
  s.reserve_gt_rows(table.size(), stream);
  s.upload_gts(table, stream);
  dev::launch_assign(maps, s.params(), s.buffers(), stream);
  s.assigned = true;
}

double* DetectLossCuda::target_scores_sum_device() { return impl_->score_sum.data(); }

// Uses the boxes assign() decoded (as detect_loss_cpu decodes once for both steps):
// `heads` must hold the maps that assign() was given.
void DetectLossCuda::compute(std::span<const float* const> heads, std::span<float* const> grads, float* items,
                             cudaStream_t stream) {
  Impl& s = *impl_;
  if (!s.assigned) throw std::logic_error("DetectLossCuda::compute called before assign");
  if (items == nullptr) throw std::invalid_argument("DetectLossCuda::compute: items is null");
  const dev::LevelMaps maps = s.maps(heads, grads, "compute");
  dev::launch_loss(maps, s.params(), s.buffers(), items, stream);
}

}  // namespace shrike::kernels
