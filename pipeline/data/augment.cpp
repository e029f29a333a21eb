// pipeline/data/augment.cpp: the training sample pipeline of augment.h. Each stage
// follows the named reference function (ultralytics/data/augment.py, 8.3); boxes travel
// as pixel xyxy between stages, as the reference's Instances do. The stages draw their
// parameters into a TrainRecipe (make_train_recipe); execute_recipe_cpu does the pixel
// work with the CPU ops, in the reference's order.
#include "pipeline/data/augment.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/augment.h"
#include "kernels/augment_pixel.h"
#include "kernels/resize.h"
#include "pipeline/core/error.h"
#include "pipeline/core/random.h"
#include "pipeline/data/rank_sampler.h"
#include "pipeline/data/shard_format.h"

namespace shrike::data {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr std::uint64_t kAugmentStream = 0x4155'474D'454E'54ull;  // "AUGMENT"

// A box in pixels of the current image.
struct PixelBox {
  float x1, y1, x2, y2;
  std::int32_t class_id;
};

// An image's size with its boxes between stages (the pixels are in the recipe).
struct Labeled {
  int height = 0, width = 0;
  std::vector<PixelBox> boxes;
};

// Python's random.uniform(a, b) = a + (b - a) * random().
double uniform(SplitMix64& rng, double a, double b) { return a + (b - a) * rng.uniform(); }

// Normalised xywh -> pixel xyxy of a (height, width) image (Instances.convert_bbox, denormalize).
std::vector<PixelBox> to_pixels(const std::vector<LabelBox>& boxes, int height, int width) {
  std::vector<PixelBox> out;
  out.reserve(boxes.size());
  for (const LabelBox& b : boxes) {
    out.push_back({(b.cx - b.w / 2) * width, (b.cy - b.h / 2) * height, (b.cx + b.w / 2) * width,
                   (b.cy + b.h / 2) * height, b.class_id});
  }
  return out;
}

// load_resized's image into `source`, its boxes in pixels.
Labeled load_labeled(const ShardSet& shards, std::uint64_t index, int imgsz, RecipeImage* source) {
  LoadedImage image = load_resized(shards, index, imgsz);
  Labeled out;
  out.height = image.height;
  out.width = image.width;
  out.boxes = to_pixels(image.boxes, image.height, image.width);
  source->height = image.height;
  source->width = image.width;
  source->pixels = std::move(image.pixels);
  return out;
}

// Instances.clip(w, h) then remove_zero_area_boxes (Mosaic._cat_labels).
void clip_and_drop_empty(std::vector<PixelBox>& boxes, float width, float height) {
  std::vector<PixelBox> kept;
  kept.reserve(boxes.size());
  for (PixelBox b : boxes) {
    b.x1 = std::clamp(b.x1, 0.0f, width), b.x2 = std::clamp(b.x2, 0.0f, width);
    b.y1 = std::clamp(b.y1, 0.0f, height), b.y2 = std::clamp(b.y2, 0.0f, height);
    if ((b.x2 - b.x1) * (b.y2 - b.y1) > 0.0f) kept.push_back(b);
  }
  boxes = std::move(kept);
}

// Mosaic._mosaic4: this image top-left, three partners from the whole dataset (deviation:
// the reference picks them from its buffer of recently loaded images) around a centre
// (xc, yc) ~ U(s/2, 3s/2) (truncated), on a (2s, 2s) canvas of 114.
Labeled mosaic4(const ShardSet& shards, std::uint64_t index, SplitMix64& rng, int s, CompositeRecipe& recipe) {
  std::uint64_t members[4] = {index, 0, 0, 0};
  for (int i = 1; i < 4; ++i) members[i] = rng.below(shards.size());
  const int border = -((s + 1) / 2);  // Python's -s // 2
  const int yc = static_cast<int>(uniform(rng, -border, 2 * s + border));
  const int xc = static_cast<int>(uniform(rng, -border, 2 * s + border));
  Labeled canvas;
  canvas.height = canvas.width = 2 * s;
  recipe.mosaic = true;
  recipe.canvas_h = recipe.canvas_w = 2 * s;
  recipe.sources.resize(4);
  for (int i = 0; i < 4; ++i) {
    Labeled tile = load_labeled(shards, members[i], s, &recipe.sources[i]);
    const kernels::MosaicTile place = kernels::mosaic_tile(i, xc, yc, tile.height, tile.width, s);
    recipe.tiles[i] = place;
    for (PixelBox b : tile.boxes) {
      b.x1 += place.padw(), b.x2 += place.padw(), b.y1 += place.padh(), b.y2 += place.padh();
      canvas.boxes.push_back(b);
    }
  }
  clip_and_drop_empty(canvas.boxes, 2.0f * s, 2.0f * s);
  return canvas;
}

// LetterBox(new_shape=(s, s)) with scaleup, centred: RandomPerspective's pre_transform
// when there is no mosaic. Labels move by (left, top) as in 8.3.
Labeled letterbox_square(const Labeled& in, int s, CompositeRecipe& recipe) {
  const kernels::LetterboxGeometry g = kernels::letterbox_geometry(in.height, in.width, s, s, true);
  Labeled out;
  out.height = g.out_h;
  out.width = g.out_w;
  recipe.mosaic = false;
  recipe.letterbox = g;
  recipe.canvas_h = g.out_h;
  recipe.canvas_w = g.out_w;
  const auto r = static_cast<float>(g.ratio);
  for (PixelBox b : in.boxes) {
    out.boxes.push_back({b.x1 * r + g.left, b.y1 * r + g.top, b.x2 * r + g.left, b.y2 * r + g.top, b.class_id});
  }
  return out;
}

// The forward matrix M = T @ S @ R @ P @ C of RandomPerspective.affine_transform and the
// scale it drew (for box_candidates). Entries are rounded to float32 as the reference
// stores them; the product is taken in double.
struct AffineDraw {
  kernels::Matrix3 forward;
  double scale;
};

AffineDraw draw_affine(SplitMix64& rng, const AugmentSettings& a, int in_w, int in_h, int out_w, int out_h) {
  auto f32 = [](double x) { return static_cast<double>(static_cast<float>(x)); };
  kernels::Matrix3 c = {1, 0, f32(-in_w / 2.0), 0, 1, f32(-in_h / 2.0), 0, 0, 1};
  kernels::Matrix3 p = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  p[6] = f32(uniform(rng, -a.perspective, a.perspective));  // x perspective (about y)
  p[7] = f32(uniform(rng, -a.perspective, a.perspective));  // y perspective (about x)
  const double angle = uniform(rng, -a.degrees, a.degrees);
  const double scale = uniform(rng, 1 - a.scale, 1 + a.scale);
  // cv2.getRotationMatrix2D(angle, center=(0, 0), scale): [[al, be, 0], [-be, al, 0]].
  const double alpha = std::cos(angle * kPi / 180.0) * scale, beta = std::sin(angle * kPi / 180.0) * scale;
  kernels::Matrix3 r = {f32(alpha), f32(beta), 0, f32(-beta), f32(alpha), 0, 0, 0, 1};
  kernels::Matrix3 sh = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  sh[1] = f32(std::tan(uniform(rng, -a.shear, a.shear) * kPi / 180.0));  // x shear (deg)
  sh[3] = f32(std::tan(uniform(rng, -a.shear, a.shear) * kPi / 180.0));  // y shear (deg)
  kernels::Matrix3 t = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  t[2] = f32(uniform(rng, 0.5 - a.translate, 0.5 + a.translate) * out_w);  // x translation (px)
  t[5] = f32(uniform(rng, 0.5 - a.translate, 0.5 + a.translate) * out_h);  // y translation (px)
  kernels::Matrix3 m = kernels::matmul3(kernels::matmul3(kernels::matmul3(kernels::matmul3(t, sh), r), p), c);
  for (double& v : m) v = f32(v);  // M is float32 in the reference
  return {m, scale};
}

bool is_identity(const kernels::Matrix3& m) {
  return m == kernels::Matrix3{1, 0, 0, 0, 1, 0, 0, 0, 1};
}

// RandomPerspective.apply_bboxes: the four corners through M, their bounding box.
PixelBox transform_box(const PixelBox& b, const kernels::Matrix3& m, bool perspective) {
  const double xs[4] = {b.x1, b.x2, b.x1, b.x2}, ys[4] = {b.y1, b.y2, b.y2, b.y1};
  double lo_x = 0, lo_y = 0, hi_x = 0, hi_y = 0;
  for (int k = 0; k < 4; ++k) {
    double x = m[0] * xs[k] + m[1] * ys[k] + m[2];
    double y = m[3] * xs[k] + m[4] * ys[k] + m[5];
    if (perspective) {
      const double w = m[6] * xs[k] + m[7] * ys[k] + m[8];
      x /= w, y /= w;
    }
    lo_x = k == 0 ? x : std::min(lo_x, x), hi_x = k == 0 ? x : std::max(hi_x, x);
    lo_y = k == 0 ? y : std::min(lo_y, y), hi_y = k == 0 ? y : std::max(hi_y, y);
  }
  return {static_cast<float>(lo_x), static_cast<float>(lo_y), static_cast<float>(hi_x), static_cast<float>(hi_y),
          b.class_id};
}

// RandomPerspective.box_candidates(box1 = before * scale, box2 = after, wh_thr 2,
// ar_thr 100, area_thr 0.1).
bool box_candidate(const PixelBox& before, float scale, const PixelBox& after) {
  constexpr double eps = 1e-16;
  const double w1 = (before.x2 - before.x1) * scale, h1 = (before.y2 - before.y1) * scale;
  const double w2 = after.x2 - after.x1, h2 = after.y2 - after.y1;
  const double ar = std::max(w2 / (h2 + eps), h2 / (w2 + eps));
  return w2 > 2 && h2 > 2 && w2 * h2 / (w1 * h1 + eps) > 0.1 && ar < 100;
}

// RandomPerspective.__call__: warp `in` by a drawn M into (in + 2*border) pixels, move,
// clip and filter the boxes.
Labeled random_perspective(const Labeled& in, int border, SplitMix64& rng, const AugmentSettings& a,
                           CompositeRecipe& recipe) {
  const int out_w = in.width + 2 * border, out_h = in.height + 2 * border;
  const AffineDraw draw = draw_affine(rng, a, in.width, in.height, out_w, out_h);
  const bool perspective = a.perspective != 0.0;
  Labeled out;
  out.width = out_w;
  out.height = out_h;
  recipe.out_w = out_w;
  recipe.out_h = out_h;
  recipe.perspective = perspective;
  recipe.warp = !(border == 0 && is_identity(draw.forward));
  if (recipe.warp) {
    kernels::Matrix3 forward = draw.forward;
    if (!perspective) forward[6] = 0, forward[7] = 0, forward[8] = 1;  // warpAffine reads M[:2]
    recipe.inverse = kernels::invert3(forward);
  }
  for (const PixelBox& before : in.boxes) {
    PixelBox after = transform_box(before, draw.forward, perspective);
    after.x1 = std::clamp(after.x1, 0.0f, static_cast<float>(out_w));
    after.x2 = std::clamp(after.x2, 0.0f, static_cast<float>(out_w));
    after.y1 = std::clamp(after.y1, 0.0f, static_cast<float>(out_h));
    after.y2 = std::clamp(after.y2, 0.0f, static_cast<float>(out_h));
    if (box_candidate(before, static_cast<float>(draw.scale), after)) out.boxes.push_back(after);
  }
  return out;
}

// Compose([Mosaic(p = mosaic), RandomPerspective(pre_transform = LetterBox)]): the
// reference's pre_transform, also what MixUp applies to its partner.
Labeled mosaic_and_affine(const ShardSet& shards, std::uint64_t index, SplitMix64& rng, const AugmentSettings& a,
                          bool mosaic_allowed, CompositeRecipe& recipe) {
  const int s = a.imgsz;
  // BaseMixTransform: skip when uniform(0, 1) > p.
  const bool use_mosaic = mosaic_allowed && a.mosaic > 0.0 && !(rng.uniform() > a.mosaic);
  if (use_mosaic) return random_perspective(mosaic4(shards, index, rng, s, recipe), -((s + 1) / 2), rng, a, recipe);
  recipe.sources.resize(1);
  const Labeled loaded = load_labeled(shards, index, s, &recipe.sources[0]);
  return random_perspective(letterbox_square(loaded, s, recipe), 0, rng, a, recipe);
}

// np.random.beta(32, 32) as G1 / (G1 + G2), each a sum of 32 unit exponentials.
double beta_32_32(SplitMix64& rng) {
  auto gamma32 = [&rng] {
    double sum = 0.0;
    for (int i = 0; i < 32; ++i) sum -= std::log(1.0 - rng.uniform());  // 1 - u in (0, 1]
    return sum;
  };
  const double g1 = gamma32(), g2 = gamma32();
  return g1 / (g1 + g2);
}

// RandomHSV: gains r = U(-1, 1) * (h, s, v), through OpenCV's 8-bit HSV.
void random_hsv(TrainRecipe& recipe, SplitMix64& rng, const AugmentSettings& a) {
  if (a.hsv_h == 0.0 && a.hsv_s == 0.0 && a.hsv_v == 0.0) return;
  const double rh = uniform(rng, -1, 1) * a.hsv_h;
  const double rs = uniform(rng, -1, 1) * a.hsv_s;
  const double rv = uniform(rng, -1, 1) * a.hsv_v;
  recipe.hsv = true;
  recipe.hsv_tables = kernels::hsv_tables(rh, rs, rv);
}

// RandomFlip(vertical, flipud) then RandomFlip(horizontal, fliplr); one draw each.
void random_flips(Labeled& sample, TrainRecipe& recipe, SplitMix64& rng, const AugmentSettings& a) {
  const auto h = static_cast<float>(sample.height), w = static_cast<float>(sample.width);
  recipe.flip_ud = rng.uniform() < a.flipud;
  if (recipe.flip_ud) {
    for (PixelBox& b : sample.boxes) b = {b.x1, h - b.y2, b.x2, h - b.y1, b.class_id};
  }
  recipe.flip_lr = rng.uniform() < a.fliplr;
  if (recipe.flip_lr) {
    for (PixelBox& b : sample.boxes) b = {w - b.x2, b.y1, w - b.x1, b.y2, b.class_id};
  }
}

// The composite's output pixels with the CPU ops: canvas, then warp.
std::vector<std::uint8_t> compose_cpu(const CompositeRecipe& c) {
  std::vector<std::uint8_t> canvas(static_cast<std::size_t>(c.canvas_h) * c.canvas_w * 3);
  if (c.mosaic) {
    std::fill(canvas.begin(), canvas.end(), kernels::kPadValue);
    for (int i = 0; i < 4; ++i) {
      const RecipeImage& tile = c.sources[i];
      kernels::mosaic_place_u8_cpu(canvas.data(), c.canvas_w / 2, tile.pixels.data(), tile.height, tile.width,
                                   c.tiles[i]);
    }
  } else {
    const RecipeImage& source = c.sources[0];
    kernels::letterbox_u8_cpu(canvas.data(), c.letterbox, source.pixels.data(), source.height, source.width);
  }
  if (!c.warp) return canvas;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(c.out_h) * c.out_w * 3);
  kernels::warp_u8_cpu(out.data(), {c.out_h, c.out_w, 3}, canvas.data(), {c.canvas_h, c.canvas_w, 3}, c.inverse,
                       c.perspective);
  return out;
}

// Format(bbox_format="xywh", normalize=True).
std::vector<LabelBox> to_normalised(const std::vector<PixelBox>& boxes, int height, int width) {
  std::vector<LabelBox> out;
  out.reserve(boxes.size());
  const auto h = static_cast<float>(height), w = static_cast<float>(width);
  for (const PixelBox& b : boxes) {
    out.push_back({b.class_id, (b.x1 + b.x2) / 2 / w, (b.y1 + b.y2) / 2 / h, (b.x2 - b.x1) / w, (b.y2 - b.y1) / h});
  }
  return out;
}

}  // namespace

void validate_augment_settings(const AugmentSettings& a) {
  if (a.imgsz < 32 || a.imgsz % 2 != 0) fail_user("imgsz={} must be an even number of pixels >= 32", a.imgsz);
  const std::pair<const char*, double> probabilities[] = {
      {"flipud", a.flipud}, {"fliplr", a.fliplr}, {"mosaic", a.mosaic}, {"mixup", a.mixup}};
  for (const auto& [key, value] : probabilities) {
    if (!(value >= 0.0 && value <= 1.0)) fail_user("{}={} is a probability: use a value in [0, 1]", key, value);
  }
  const std::pair<const char*, double> gains[] = {{"hsv_h", a.hsv_h}, {"hsv_s", a.hsv_s}, {"hsv_v", a.hsv_v},
                                                  {"degrees", a.degrees}, {"translate", a.translate},
                                                  {"shear", a.shear}, {"perspective", a.perspective}};
  for (const auto& [key, value] : gains) {
    if (!(value >= 0.0 && std::isfinite(value))) fail_user("{}={} must be a number >= 0", key, value);
  }
  if (!(a.scale >= 0.0 && a.scale < 1.0)) {
    fail_user("scale={} must be in [0, 1): images are scaled by U(1 - scale, 1 + scale)", a.scale);
  }
}

bool mosaic_open(int epoch, int epochs, int close_mosaic) { return epoch < epochs - close_mosaic; }

std::uint64_t augment_seed(std::uint64_t seed, int epoch, std::uint64_t index) {
  return mix_seed(mix_seed(seed, kAugmentStream), static_cast<std::uint64_t>(epoch), index);
}

LoadedImage load_resized(const ShardSet& shards, std::uint64_t index, int imgsz) {
  Sample sample = shards.read(index);
  LoadedImage out;
  out.info = sample.info;
  out.boxes = std::move(sample.boxes);
  stored_size(sample.info.orig_height, sample.info.orig_width, imgsz, &out.height, &out.width);
  if (out.height == sample.info.height && out.width == sample.info.width) {
    out.pixels = std::move(sample.pixels);
  } else {
    out.pixels.resize(static_cast<std::size_t>(out.height) * out.width * 3);
    kernels::resize_bilinear_u8_cpu(out.pixels.data(), {out.height, out.width, 3}, sample.pixels.data(),
                                    {sample.info.height, sample.info.width, 3});
  }
  return out;
}

// ---- the kernels' form of a recipe (kernels/augment_pixel.h AugmentSample) ---------------------

namespace {

// InternalError unless the recipe fits the kernel's reading of it (no read can leave a
// source or the canvas).
void check_composite(const CompositeRecipe& c, int size) {
  auto bad = [](const char* what) { fail_internal("a training recipe is malformed: {}", what); };
  if (c.sources.size() != (c.mosaic ? 4u : 1u)) bad("wrong number of source images");
  for (const RecipeImage& s : c.sources) {
    if (s.height < 1 || s.width < 1 || s.pixels.size() != static_cast<std::size_t>(s.height) * s.width * 3) {
      bad("a source image's pixels do not match its size");
    }
  }
  if (c.out_h != size || c.out_w != size) bad("the composite's output is not imgsz square");
  if (!c.warp && (c.canvas_h != size || c.canvas_w != size)) bad("an unwarped canvas is not imgsz square");
  if (c.mosaic) {
    for (int k = 0; k < 4; ++k) {
      const kernels::MosaicTile& t = c.tiles[k];
      const int w = t.x2a - t.x1a, h = t.y2a - t.y1a;
      if (w <= 0 || h <= 0) continue;
      if (t.x1a < 0 || t.y1a < 0 || t.x2a > c.canvas_w || t.y2a > c.canvas_h || t.x1b < 0 || t.y1b < 0 ||
          t.x1b + w > c.sources[k].width || t.y1b + h > c.sources[k].height) {
        bad("a mosaic tile leaves its source or the canvas");
      }
    }
  } else {
    const kernels::LetterboxGeometry& g = c.letterbox;
    if (g.top < 0 || g.left < 0 || g.resized_h < 1 || g.resized_w < 1 || g.top + g.resized_h > c.canvas_h ||
        g.left + g.resized_w > c.canvas_w) {
      bad("the letterbox body leaves the canvas");
    }
  }
}

std::size_t source_bytes(const CompositeRecipe& c) {
  std::size_t bytes = 0;
  for (const RecipeImage& s : c.sources) bytes += s.pixels.size();
  return bytes;
}

// The kernel's form of a composite; copies its sources to staging + *offset.
kernels::AugmentComposite pack_composite(const CompositeRecipe& c, std::uint8_t* staging, std::size_t* offset) {
  kernels::AugmentComposite out;
  out.mosaic = c.mosaic ? 1 : 0;
  out.canvas_h = c.canvas_h;
  out.canvas_w = c.canvas_w;
  for (std::size_t k = 0; k < c.sources.size(); ++k) {
    const RecipeImage& s = c.sources[k];
    out.sources[k] = {static_cast<std::uint64_t>(*offset), s.height, s.width};
    std::memcpy(staging + *offset, s.pixels.data(), s.pixels.size());
    *offset += s.pixels.size();
  }
  for (int k = 0; k < 4; ++k) out.tiles[k] = c.tiles[k];
  out.top = c.letterbox.top;
  out.left = c.letterbox.left;
  out.resized_h = c.letterbox.resized_h;
  out.resized_w = c.letterbox.resized_w;
  out.warp = c.warp ? 1 : 0;
  out.perspective = c.perspective ? 1 : 0;
  for (int i = 0; i < 9; ++i) out.inverse[i] = static_cast<float>(c.inverse[i]);  // as warp_u8_cpu
  return out;
}

}  // namespace

void check_recipe(const TrainRecipe& r) {
  if (r.height < 1 || r.width != r.height) fail_internal("a training recipe is {}x{}, not square", r.height, r.width);
  check_composite(r.image, r.height);
  if (r.mixup) check_composite(r.partner, r.height);
}

std::size_t recipe_source_bytes(const TrainRecipe& r) {
  return source_bytes(r.image) + (r.mixup ? source_bytes(r.partner) : 0);
}

kernels::AugmentSample pack_recipe(const TrainRecipe& r, std::uint8_t* staging, std::size_t* offset) {
  check_recipe(r);
  kernels::AugmentSample out;
  out.image = pack_composite(r.image, staging, offset);
  if (r.mixup) {
    out.partner = pack_composite(r.partner, staging, offset);
    out.mixup = 1;
    out.mixup_ratio = r.mixup_ratio;
  }
  if (r.hsv) {
    out.hsv = 1;
    std::memcpy(out.hue, r.hsv_tables.hue.data(), 256);
    std::memcpy(out.sat, r.hsv_tables.sat.data(), 256);
    std::memcpy(out.val, r.hsv_tables.val.data(), 256);
  }
  out.flip_ud = r.flip_ud ? 1 : 0;
  out.flip_lr = r.flip_lr ? 1 : 0;
  return out;
}


TrainRecipe make_train_recipe(const ShardSet& shards, std::uint64_t index, std::uint64_t seed, int epoch,
                              const AugmentSettings& settings, bool mosaic_allowed) {
  if (index >= shards.size()) fail_internal("make_train_recipe: index {} of {} samples", index, shards.size());
  TrainRecipe recipe;
  SplitMix64 rng(augment_seed(seed, epoch, index));
  Labeled sample = mosaic_and_affine(shards, index, rng, settings, mosaic_allowed, recipe.image);
  // MixUp(pre_transform = the same mosaic + affine), closed together with mosaic.
  if (mosaic_allowed && settings.mixup > 0.0 && !(rng.uniform() > settings.mixup)) {
    const std::uint64_t partner = rng.below(shards.size());
    SplitMix64 partner_rng(rng.next());
    const Labeled other = mosaic_and_affine(shards, partner, partner_rng, settings, mosaic_allowed, recipe.partner);
    recipe.mixup = true;
    recipe.mixup_ratio = beta_32_32(rng);  // MixUp._mix_transform: boxes joined
    sample.boxes.insert(sample.boxes.end(), other.boxes.begin(), other.boxes.end());
  }
  random_hsv(recipe, rng, settings);
  random_flips(sample, recipe, rng, settings);
  recipe.height = sample.height;
  recipe.width = sample.width;
  recipe.boxes = to_normalised(sample.boxes, sample.height, sample.width);
  return recipe;
}

TrainSample execute_recipe_cpu(const TrainRecipe& recipe) {
  TrainSample out;
  out.pixels = compose_cpu(recipe.image);
  if (out.pixels.size() != static_cast<std::size_t>(recipe.height) * recipe.width * 3) {
    fail_internal("execute_recipe_cpu: composite of {} bytes for a {}x{} sample", out.pixels.size(), recipe.height,
                  recipe.width);
  }
  if (recipe.mixup) {  // MixUp._mix_transform: img * r + partner * (1 - r), truncated to uint8
    const std::vector<std::uint8_t> partner = compose_cpu(recipe.partner);
    if (partner.size() != out.pixels.size()) {
      fail_internal("execute_recipe_cpu: mixup partner of {} bytes, image of {}", partner.size(), out.pixels.size());
    }
    for (std::size_t i = 0; i < out.pixels.size(); ++i) {
      out.pixels[i] = kernels::pixel::mix_u8(out.pixels[i], partner[i], recipe.mixup_ratio);
    }
  }
  if (recipe.hsv) kernels::hsv_jitter_u8_cpu(out.pixels.data(), recipe.height, recipe.width, recipe.hsv_tables);
  if (recipe.flip_ud) kernels::flip_ud_u8_cpu(out.pixels.data(), recipe.height, recipe.width);
  if (recipe.flip_lr) kernels::flip_lr_u8_cpu(out.pixels.data(), recipe.height, recipe.width);
  out.boxes = recipe.boxes;
  return out;
}

TrainSample make_train_sample(const ShardSet& shards, std::uint64_t index, std::uint64_t seed, int epoch,
                              const AugmentSettings& settings, bool mosaic_allowed) {
  if (index >= shards.size()) fail_internal("make_train_sample: index {} of {} samples", index, shards.size());
  return execute_recipe_cpu(make_train_recipe(shards, index, seed, epoch, settings, mosaic_allowed));
}

}  // namespace shrike::data
