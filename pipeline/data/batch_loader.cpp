// pipeline/data/batch_loader.cpp: TrainLoader (background workers, bounded prefetch,
// deterministic batches) and ValLoader (rectangular letterboxed batches).
#include "pipeline/data/batch_loader.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include "kernels/augment.h"
#include "pipeline/core/error.h"
#include "pipeline/core/ordered_parallel.h"
#include "pipeline/data/rank_sampler.h"

namespace shrike::data {

void hwc_u8_to_nchw_f32(float* batch_images, std::size_t slot, const std::uint8_t* pixels, int height, int width) {
  const std::size_t plane = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  float* out = batch_images + slot * 3 * plane;
  for (std::size_t i = 0; i < plane; ++i) {
    out[i] = static_cast<float>(pixels[i * 3]) / 255.0f;
    out[plane + i] = static_cast<float>(pixels[i * 3 + 1]) / 255.0f;
    out[2 * plane + i] = static_cast<float>(pixels[i * 3 + 2]) / 255.0f;
  }
}

namespace {

unsigned default_workers(unsigned requested) {
  if (requested > 0) return requested;
  const unsigned cores = available_cores();
  return cores > 1 ? cores - 1 : 1;
}

// Appends rows [slot, class, cx, cy, w, h] for `boxes` to `targets`.
void append_targets(std::vector<float>& targets, std::size_t slot, const std::vector<LabelBox>& boxes) {
  for (const LabelBox& b : boxes) {
    targets.insert(targets.end(), {static_cast<float>(slot), static_cast<float>(b.class_id), b.cx, b.cy, b.w, b.h});
  }
}

// A batch being built: its tensor is allocated when its first sample is claimed, each
// worker fills its own image slot, and the batch is ready when `done` reaches its size.
struct PendingBatch {
  Batch batch;
  std::vector<std::vector<LabelBox>> boxes;  // per slot
  std::size_t done = 0;
};

}  // namespace

// ---- TrainLoader -------------------------------------------------------------------------

struct TrainLoader::State {
  const ShardSet* shards = nullptr;
  TrainLoaderOptions options;
  unsigned workers = 1;
  std::size_t per_rank = 0;      // samples per epoch on this rank (padded)
  std::size_t batch_count = 0;   // batches per epoch
  std::size_t used_samples = 0;  // samples the batches take (per_rank, or fewer with drop_last)

  // The current epoch, guarded by `mutex`.
  std::mutex mutex;
  std::condition_variable changed;
  int epoch = -1;
  bool mosaic = true;
  std::vector<std::uint64_t> slice;
  std::size_t next_claim = 0;    // next sample position to build
  std::size_t next_deliver = 0;  // next batch number next() returns
  std::map<std::size_t, PendingBatch> pending;
  std::exception_ptr failure;
  bool stopping = false;
  std::vector<std::thread> threads;

  std::size_t batch_size(std::size_t number) const {
    const auto b = static_cast<std::size_t>(options.batch);
    return std::min(b, used_samples - number * b);
  }

  // Claims the next sample position, allocating its batch; false when there is none.
  bool claim(std::size_t* position, PendingBatch** target) {
    std::unique_lock lock(mutex);
    const auto b = static_cast<std::size_t>(options.batch);
    changed.wait(lock, [&] {
      return stopping || failure || next_claim >= used_samples || next_claim / b < next_deliver + options.prefetch;
    });
    if (stopping || failure || next_claim >= used_samples) return false;
    *position = next_claim++;
    const std::size_t number = *position / b;
    auto [it, fresh] = pending.try_emplace(number);
    if (fresh) {
      const std::size_t size = batch_size(number);
      const int s = options.augment.imgsz;
      Batch& batch = it->second.batch;
      batch.number = number;
      batch.shape = {static_cast<int>(size), 3, s, s};
      if (options.recipes_only) {
        batch.recipes.resize(size);
      } else {
        batch.images.resize(batch.shape.numel());
      }
      batch.indices.assign(slice.begin() + static_cast<std::ptrdiff_t>(number * b),
                           slice.begin() + static_cast<std::ptrdiff_t>(number * b + size));
      it->second.boxes.resize(size);
    }
    *target = &it->second;
    return true;
  }

  void work() {
    std::size_t position = 0;
    PendingBatch* target = nullptr;
    while (claim(&position, &target)) {
      try {
        const std::size_t slot = position % static_cast<std::size_t>(options.batch);
        if (options.recipes_only) {
          TrainRecipe recipe = make_train_recipe(*shards, slice[position], options.seed, epoch, options.augment, mosaic);
          std::lock_guard lock(mutex);
          target->boxes[slot] = recipe.boxes;
          target->batch.recipes[slot] = std::move(recipe);
          ++target->done;
        } else {
          TrainSample sample = make_train_sample(*shards, slice[position], options.seed, epoch, options.augment, mosaic);
          const int s = options.augment.imgsz;
          hwc_u8_to_nchw_f32(target->batch.images.data(), slot, sample.pixels.data(), s, s);
          std::lock_guard lock(mutex);
          target->boxes[slot] = std::move(sample.boxes);
          ++target->done;
        }
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!failure) failure = std::current_exception();
      }
      changed.notify_all();
    }
  }

  void stop_workers() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    changed.notify_all();
    for (std::thread& thread : threads) thread.join();
    threads.clear();
    stopping = false;
  }
};

TrainLoader::TrainLoader(const ShardSet& shards, TrainLoaderOptions options) : state_(std::make_unique<State>()) {
  validate_augment_settings(options.augment);
  if (options.batch < 1) fail_user("batch={} must be at least 1", options.batch);
  if (options.world < 1 || options.rank < 0 || options.rank >= options.world) {
    fail_internal("TrainLoader: rank {} of world {} is invalid", options.rank, options.world);
  }
  if (shards.size() == 0) fail_user("the training split has no images: nothing to train on");
  if (options.prefetch < 1) options.prefetch = 1;
  State& st = *state_;
  st.shards = &shards;
  st.workers = default_workers(options.workers);
  const auto n = static_cast<std::size_t>(shards.size()), world = static_cast<std::size_t>(options.world);
  const auto b = static_cast<std::size_t>(options.batch);
  st.per_rank = (n + world - 1) / world;
  st.batch_count = options.drop_last ? st.per_rank / b : (st.per_rank + b - 1) / b;
  st.used_samples = options.drop_last ? st.batch_count * b : st.per_rank;
  if (st.batch_count == 0) {
    fail_user("batch={} is larger than the {} training images of each of the {} ranks, and drop_last drops "
              "every batch: lower batch or keep the last partial batch",
              options.batch, st.per_rank, options.world);
  }
  st.options = std::move(options);
}

TrainLoader::~TrainLoader() { state_->stop_workers(); }

std::size_t TrainLoader::batches_per_epoch() const { return state_->batch_count; }
std::size_t TrainLoader::samples_per_epoch() const { return state_->per_rank; }
unsigned TrainLoader::workers() const { return state_->workers; }

void TrainLoader::start_epoch(int epoch, std::size_t first_batch) {
  State& st = *state_;
  if (epoch < 0) fail_internal("TrainLoader::start_epoch: epoch {} is negative", epoch);
  if (first_batch > st.batch_count) {
    fail_internal("TrainLoader::start_epoch: batch {} of an epoch of {} batches", first_batch, st.batch_count);
  }
  st.stop_workers();
  const TrainLoaderOptions& o = st.options;
  st.slice = rank_slice(st.shards->size(), o.seed, static_cast<std::uint64_t>(epoch), o.rank, o.world, true);
  st.epoch = epoch;
  st.mosaic = mosaic_open(epoch, o.epochs, o.close_mosaic);
  st.next_claim = first_batch * static_cast<std::size_t>(o.batch);
  st.next_deliver = first_batch;
  st.pending.clear();
  st.failure = nullptr;
  const std::size_t remaining = st.used_samples - std::min(st.used_samples, st.next_claim);
  const auto count = static_cast<unsigned>(std::min<std::size_t>(st.workers, remaining));
  for (unsigned t = 0; t < count; ++t) st.threads.emplace_back([&st] { st.work(); });
}

std::optional<Batch> TrainLoader::next() {
  State& st = *state_;
  PendingBatch ready;
  {
    std::unique_lock lock(st.mutex);
    if (st.epoch < 0) fail_internal("TrainLoader::next called before start_epoch");
    if (st.next_deliver >= st.batch_count) return std::nullopt;
    st.changed.wait(lock, [&] {
      auto it = st.pending.find(st.next_deliver);
      return st.failure || (it != st.pending.end() && it->second.done == st.batch_size(st.next_deliver));
    });
    if (st.failure) std::rethrow_exception(st.failure);
    auto node = st.pending.extract(st.next_deliver);
    ready = std::move(node.mapped());
    ++st.next_deliver;
  }
  st.changed.notify_all();
  for (std::size_t slot = 0; slot < ready.boxes.size(); ++slot) append_targets(ready.batch.targets, slot, ready.boxes[slot]);
  return std::move(ready.batch);
}

// ---- ValLoader -----------------------------------------------------------------------------

namespace {

// Runs fn(i) for i in [0, n) on up to `threads` threads; rethrows the first exception.
template <typename Fn>
void parallel_for(std::size_t n, unsigned threads, Fn fn) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr failure;
  std::mutex mutex;
  auto run = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!failure) failure = std::current_exception();
        next = n;
      }
    }
  };
  const auto count = static_cast<unsigned>(std::min<std::size_t>(std::max(threads, 1u), n));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < count; ++t) pool.emplace_back(run);
  run();
  for (std::thread& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

ValLoader::ValLoader(const ShardSet& shards, int imgsz, int batch, int stride, unsigned workers)
    : shards_(&shards), imgsz_(imgsz), batch_(batch), stride_(stride), workers_(default_workers(workers)) {
  if (batch < 1) fail_user("validation batch={} must be at least 1", batch);
  if (imgsz < 1 || stride < 1) fail_internal("ValLoader: imgsz {} and stride {} must be positive", imgsz, stride);
  const std::size_t n = shards.size();
  std::vector<double> ar(n);
  for (std::size_t i = 0; i < n; ++i) {
    const SampleInfo info = shards.info(i);
    ar[i] = static_cast<double>(info.orig_height) / info.orig_width;  // labels' "shape" is the original (h, w)
  }
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), 0);
  // numpy's argsort (quicksort) does not promise an order for equal ratios; ours is stable.
  std::stable_sort(order_.begin(), order_.end(), [&](std::uint64_t a, std::uint64_t b) { return ar[a] < ar[b]; });
  const std::size_t b = static_cast<std::size_t>(batch);
  for (std::size_t first = 0; first < n; first += b) {
    const std::size_t last = std::min(n, first + b) - 1;
    const double mini = ar[order_[first]], maxi = ar[order_[last]];
    double shape_h = 1.0, shape_w = 1.0;
    if (maxi < 1) {
      shape_h = maxi;
    } else if (mini > 1) {
      shape_w = 1 / mini;
    }
    auto side = [&](double x) { return static_cast<int>(std::ceil(x * imgsz / stride + 0.5)) * stride; };
    shapes_.emplace_back(side(shape_h), side(shape_w));
  }
}

std::size_t ValLoader::batch_count() const { return shapes_.size(); }

std::pair<int, int> ValLoader::batch_shape(std::size_t b) const {
  if (b >= shapes_.size()) fail_internal("ValLoader: batch {} of {}", b, shapes_.size());
  return shapes_[b];
}

ValBatch ValLoader::load(std::size_t b) const {
  const auto [height, width] = batch_shape(b);
  const std::size_t first = b * static_cast<std::size_t>(batch_);
  const std::size_t size = std::min(order_.size(), first + static_cast<std::size_t>(batch_)) - first;
  ValBatch out;
  out.shape = {static_cast<int>(size), 3, height, width};
  out.images.resize(out.shape.numel());
  out.indices.assign(order_.begin() + static_cast<std::ptrdiff_t>(first),
                     order_.begin() + static_cast<std::ptrdiff_t>(first + size));
  out.images_info.resize(size);
  std::vector<std::vector<LabelBox>> boxes(size);
  parallel_for(size, workers_, [&](std::size_t slot) {
    LoadedImage image = load_resized(*shards_, out.indices[slot], imgsz_);
    const kernels::LetterboxGeometry g = kernels::letterbox_geometry(image.height, image.width, height, width, false);
    std::vector<std::uint8_t> canvas(static_cast<std::size_t>(height) * width * 3);
    kernels::letterbox_u8_cpu(canvas.data(), g, image.pixels.data(), image.height, image.width);
    hwc_u8_to_nchw_f32(out.images.data(), slot, canvas.data(), height, width);
    ValImageInfo& info = out.images_info[slot];
    info.index = out.indices[slot];
    info.orig_height = image.info.orig_height;
    info.orig_width = image.info.orig_width;
    // The reference's ratio_pad: (loaded / original, (left, top)); times the letterbox
    // ratio, which is 1 for these batch shapes (the reference omits it).
    info.ratio_h = static_cast<double>(image.height) / image.info.orig_height * g.ratio;
    info.ratio_w = static_cast<double>(image.width) / image.info.orig_width * g.ratio;
    info.pad_left = g.left;
    info.pad_top = g.top;
    const auto r = static_cast<float>(g.ratio);
    for (LabelBox box : image.boxes) {  // LetterBox._update_labels, then Format's normalise
      box.cx = (box.cx * image.width * r + g.left) / width;
      box.cy = (box.cy * image.height * r + g.top) / height;
      box.w = box.w * image.width * r / width;
      box.h = box.h * image.height * r / height;
      boxes[slot].push_back(box);
    }
  });
  for (std::size_t slot = 0; slot < size; ++slot) append_targets(out.targets, slot, boxes[slot]);
  return out;
}

}  // namespace shrike::data
