// pipeline/data/augment.h
//
// One training sample, built as the reference trainer builds it for detection
// (Ultralytics 8.3 data/augment.py v8_transforms, train mode):
//   Mosaic (4 images, p = mosaic) -> RandomPerspective (mosaic border -s/2: 2s -> s;
//   without mosaic LetterBox to s x s first) -> box filter -> MixUp (p = mixup) ->
//   RandomHSV -> RandomFlip (up-down, then left-right) -> normalised xywh boxes.
// The pixel work is in kernels/augment.h; this file draws the parameters and moves the
// labels. Randomness (documented deviation from the reference, whose draws come from
// Python's and numpy's global generators and whose mosaic partners come from a buffer of
// recently loaded images): every draw of a sample comes from one SplitMix64 generator
// seeded by (seed, epoch, sample index), and mosaic / mixup partners are drawn from the
// whole dataset, so a sample does not depend on threads, timing, rank or world size.
// Per-sample draw order: [mosaic: p, 3 partners, yc, xc] [affine: perspective x, y,
// angle, scale, shear x, y, translate x, y] [mixup: p, partner, partner's own generator,
// ratio] [hsv: 3 gains] [flip: up-down, left-right] -- the reference's order, though the
// values differ. Other deviations: cutmix, copy_paste and the optional Albumentations
// pass (blur, median blur, grey, CLAHE at p 0.01 when that package is installed) are not
// implemented (cutmix and copy_paste default to 0); matrices and box transforms run in
// double where the reference uses float32; pixel rounding as in kernels/augment.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/augment.h"
#include "kernels/augment_pixel.h"
#include "pipeline/data/label_file.h"
#include "pipeline/data/shard_reader.h"

namespace shrike::data {

// The reference's hyperparameter names and defaults (spec § 4).
struct AugmentSettings {
  int imgsz = 640;
  double hsv_h = 0.015, hsv_s = 0.7, hsv_v = 0.4;
  double degrees = 0.0, translate = 0.1, scale = 0.5, shear = 0.0, perspective = 0.0;
  double flipud = 0.0, fliplr = 0.5;
  double mosaic = 1.0, mixup = 0.0;
};

// UserError naming the key when a setting is out of range (probabilities in [0, 1],
// imgsz a positive multiple of 2, scale < 1 ...).
void validate_augment_settings(const AugmentSettings& settings);

struct TrainSample {
  std::vector<std::uint8_t> pixels;  // (imgsz, imgsz, 3) RGB
  std::vector<LabelBox> boxes;       // normalised cx, cy, w, h of the output image
};

// close_mosaic as a pure function of the 0-based epoch: mosaic (and with it mixup, as the
// reference's close_mosaic also zeroes mixup and copy_paste) is off iff
// epoch >= epochs - close_mosaic. A resumed run therefore equals the uninterrupted one.
bool mosaic_open(int epoch, int epochs, int close_mosaic);

// The seed of sample `index`'s generator in `epoch` (distinct from the sampler's).
std::uint64_t augment_seed(std::uint64_t seed, int epoch, std::uint64_t index);

// Sample `index` of `shards` augmented for training. `mosaic_allowed` false (closed
// mosaic) disables mosaic and mixup whatever the settings say. Equal to
// execute_recipe_cpu(make_train_recipe(...)).
TrainSample make_train_sample(const ShardSet& shards, std::uint64_t index, std::uint64_t seed, int epoch,
                              const AugmentSettings& settings, bool mosaic_allowed);

// ---- the recipe form: a training sample before its pixel work ----------------------------
// Everything make_train_sample draws and decides, with the decoded, load-resized source
// images but none of the pixel ops done, so the pixel work can run elsewhere (the GPU
// data path, pipeline/data/gpu_augment.h) and give the same bytes.

// A load-resized source image (load_resized's pixels).
struct RecipeImage {
  int height = 0, width = 0;
  std::vector<std::uint8_t> pixels;  // (height, width, 3) RGB
};

// Compose(Mosaic | LetterBox, RandomPerspective) for one image: the canvas is either the
// four `sources` placed by `tiles` on a (2s, 2s) canvas of 114 (mosaic), or sources[0]
// letterboxed by `letterbox`; then, when `warp`, kernels::warp_u8 of the canvas by
// `inverse` (border 114, perspective divide when `perspective`) into (out_h, out_w);
// without `warp` the canvas is the output.
struct CompositeRecipe {
  bool mosaic = false;
  std::vector<RecipeImage> sources;            // 4 with mosaic (tile order), else 1
  std::array<kernels::MosaicTile, 4> tiles{};  // mosaic only
  kernels::LetterboxGeometry letterbox;        // without mosaic only
  int canvas_h = 0, canvas_w = 0;
  bool warp = false;
  kernels::Matrix3 inverse{};  // output pixel -> canvas point
  bool perspective = false;
  int out_h = 0, out_w = 0;
};

// One training sample: image (mixed with partner by MixUp when `mixup`: image * ratio +
// partner * (1 - ratio), truncated), then RandomHSV through `hsv_tables` when `hsv`, then
// the up-down and the left-right flip; `boxes` are the final normalised labels.
struct TrainRecipe {
  int height = 0, width = 0;  // the output (imgsz, imgsz)
  CompositeRecipe image;
  bool mixup = false;
  CompositeRecipe partner;
  double mixup_ratio = 0.0;
  bool hsv = false;
  kernels::HsvTables hsv_tables{};
  bool flip_ud = false, flip_lr = false;
  std::vector<LabelBox> boxes;
};

// The recipe of make_train_sample(shards, index, seed, epoch, settings, mosaic_allowed):
// same draws, same labels; the shard reads and load-time resizes are done here.
TrainRecipe make_train_recipe(const ShardSet& shards, std::uint64_t index, std::uint64_t seed, int epoch,
                              const AugmentSettings& settings, bool mosaic_allowed);
// The recipe's pixel work with the CPU ops of kernels/augment.h (the reference).
TrainSample execute_recipe_cpu(const TrainRecipe& recipe);

// InternalError unless the recipe can be read safely by the fused kernel: square output,
// 4 (mosaic) or 1 sources whose pixels match their sizes, tiles and letterbox inside
// their source and canvas, composites of the output's size.
void check_recipe(const TrainRecipe& recipe);
// The bytes of the recipe's source images (image, and partner with mixup).
std::size_t recipe_source_bytes(const TrainRecipe& recipe);
// The recipe in the form of kernels::augment_batch_u8_cuda (kernels/augment_pixel.h):
// checks it (check_recipe), copies its source images to sources + *offset (advancing
// *offset by recipe_source_bytes) and returns its parameters with those offsets.
kernels::AugmentSample pack_recipe(const TrainRecipe& recipe, std::uint8_t* sources, std::size_t* offset);

// A sample as the reference's load_image gives it: long side = imgsz (aspect kept, the
// ceil rule of stored_size). Shards stored at this imgsz are used as they are; others
// are resized from the stored pixels (bilinear), not from the original image as the
// reference would -- shard at the training imgsz to avoid resampling twice.
struct LoadedImage {
  int height = 0, width = 0;
  std::vector<std::uint8_t> pixels;  // (height, width, 3) RGB
  std::vector<LabelBox> boxes;       // normalised cx, cy, w, h
  SampleInfo info;                   // stored and original shape, source path
};
LoadedImage load_resized(const ShardSet& shards, std::uint64_t index, int imgsz);

}  // namespace shrike::data
