// pipeline/data/batch_loader.h
//
// Batches for the trainer and the validator, as float NCHW tensors with YOLO targets.
//
// TrainLoader: per epoch, this rank's slice of the global epoch permutation
// (rank_slice, padded so every rank has the same count), cut into batches of `batch`
// samples; the last partial batch is kept unless drop_last (the reference's DataLoader
// has drop_last False). Samples are augmented (augment.h) by `workers` background
// threads, at most `prefetch` batches ahead of the consumer. Every sample depends only on
// (seed, epoch, index), so the batches are the same bytes whatever the thread count or
// timing, and start_epoch(e, k) gives exactly batches k.. of the uninterrupted epoch e
// (resume mid-epoch). An exception in a worker is rethrown by next(); the destructor
// stops and joins the workers.
//
// ValLoader: the reference's rectangular validation batches (data/base.py
// set_rectangle): images sorted by the aspect ratio h/w of their ORIGINAL shape, each
// batch letterboxed (no upscaling, centred, pad 114) into
// ceil(shape * imgsz / stride + 0.5) * stride, where shape is [max ar, 1] when every
// ratio in the batch is < 1, [1, 1/min ar] when every one is > 1, else [1, 1].
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "kernels/tensor.h"
#include "pipeline/data/augment.h"
#include "pipeline/data/shard_reader.h"

namespace shrike::data {

struct Batch {
  kernels::Shape4 shape;               // (B, 3, imgsz, imgsz)
  std::vector<float> images;           // (B, 3, H, W) RGB in 0..1; empty with recipes_only
  std::vector<float> targets;          // (M, 6) [image_index, class, cx, cy, w, h], normalised
  std::vector<std::uint64_t> indices;  // (B) dataset index of each image
  std::size_t number = 0;              // the batch's position in its epoch
  // (B) with TrainLoaderOptions::recipes_only: each image's recipe (augment.h), whose
  // pixel work is left to the consumer (gpu_augment.h); empty otherwise.
  std::vector<TrainRecipe> recipes;
  std::size_t target_count() const { return targets.size() / 6; }
};

struct TrainLoaderOptions {
  AugmentSettings augment;
  int batch = 16;            // images per batch on this rank (the reference's batch / world)
  int epochs = 100;          // for close_mosaic
  int close_mosaic = 10;     // mosaic off iff epoch >= epochs - close_mosaic
  std::uint64_t seed = 0;
  int rank = 0, world = 1;
  unsigned workers = 0;      // 0: available cores - 1, at least 1
  std::size_t prefetch = 3;  // batches built ahead of next()
  bool drop_last = false;    // the reference keeps the last partial batch
  // Workers build recipes (Batch::recipes) instead of pixels (Batch::images): the GPU data
  // path. Targets, indices and shapes are the same as in pixel mode.
  bool recipes_only = false;
};

class TrainLoader {
 public:
  // `shards` must outlive the loader. Throws UserError for bad options.
  TrainLoader(const ShardSet& shards, TrainLoaderOptions options);
  ~TrainLoader();
  TrainLoader(const TrainLoader&) = delete;
  TrainLoader& operator=(const TrainLoader&) = delete;

  std::size_t batches_per_epoch() const;
  std::size_t samples_per_epoch() const;  // on this rank, padded
  unsigned workers() const;

  // Starts (or restarts) epoch `epoch` at batch `first_batch`, abandoning any other.
  void start_epoch(int epoch, std::size_t first_batch = 0);
  // The next batch of the current epoch, nullopt after its last. Rethrows a worker's
  // exception.
  std::optional<Batch> next();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Per image of a validation batch: how to map boxes back to the original image:
// original = (letterboxed - pad) / ratio, per axis.
struct ValImageInfo {
  std::uint64_t index = 0;
  int orig_height = 0, orig_width = 0;
  double ratio_h = 1.0, ratio_w = 1.0;  // letterboxed size / original size
  int pad_left = 0, pad_top = 0;
};

struct ValBatch {
  kernels::Shape4 shape;              // (B, 3, H, W): the batch's rectangle
  std::vector<float> images;          // (B, 3, H, W) RGB in 0..1
  std::vector<float> targets;         // (M, 6) [image_index, class, cx, cy, w, h] normalised to (H, W)
  std::vector<ValImageInfo> images_info;  // (B)
  std::vector<std::uint64_t> indices;     // (B)
  std::size_t target_count() const { return targets.size() / 6; }
};

class ValLoader {
 public:
  // `shards` must outlive the loader; workers 0: available cores - 1, at least 1.
  ValLoader(const ShardSet& shards, int imgsz, int batch, int stride = 32, unsigned workers = 0);

  std::size_t batch_count() const;
  // The (height, width) of batch `b`.
  std::pair<int, int> batch_shape(std::size_t b) const;
  // Dataset indices in validation order (sorted by aspect ratio).
  const std::vector<std::uint64_t>& order() const { return order_; }
  // Builds batch `b` (its images on the worker threads).
  ValBatch load(std::size_t b) const;

 private:
  const ShardSet* shards_;
  int imgsz_, batch_, stride_;
  unsigned workers_;
  std::vector<std::uint64_t> order_;
  std::vector<std::pair<int, int>> shapes_;
};

// pixels: (height, width, 3) uint8 -> image `slot` of batch_images: (B, 3, height, width)
// float, each value divided by 255 (the reference's img.float() / 255).
void hwc_u8_to_nchw_f32(float* batch_images, std::size_t slot, const std::uint8_t* pixels, int height, int width);

}  // namespace shrike::data
