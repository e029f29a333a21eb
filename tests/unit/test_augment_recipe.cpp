// tests/unit/test_augment_recipe.cpp: the recipe form of a training sample
// (pipeline/data/augment.h make_train_recipe / execute_recipe_cpu). Executing a recipe
// on the CPU must give make_train_sample's bytes and boxes for many samples under
// mosaic on and off, mixup, rotation, shear and perspective, load-time resizing and
// flips; and the CPU pipeline's bytes are pinned by digests taken before the recipe
// form existed (a change there breaks resume and run-to-run reproducibility, so it must
// be deliberate). The shards hold PNG images (lossless: the digests do not depend on a
// JPEG decoder) of noise and gradients in several aspect ratios. The loader's
// recipes_only mode must give the pixel mode's targets, and its recipes executed on the
// CPU the pixel mode's images. The fused GPU kernel's per-pixel path (augment_pixel.h)
// is run on the host against the CPU ops, and malformed recipes are refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/augment_pixel.h"
#include "pipeline/core/error.h"
#include "pipeline/data/augment.h"
#include "pipeline/data/batch_loader.h"
#include "pipeline/data/shard_build.h"
#include "pipeline/data/shard_reader.h"
#include "tests/unit/test_support.h"

namespace shrike::data {
namespace {

namespace fs = std::filesystem;

// 10 train images, noise or gradient, one to three boxes each, sharded at 96 pixels.
fs::path make_shards(const test::TempDir& dir) {
  const int sizes[][2] = {{60, 90}, {90, 60}, {77, 77}, {40, 100}, {100, 41}};
  for (int i = 0; i < 10; ++i) {
    const int h = sizes[i % 5][0], w = sizes[i % 5][1];
    auto pixels = i % 2 ? test::random_bytes(static_cast<std::size_t>(h) * w * 3, 17u + i)
                        : test::pattern_rgb(h, w, static_cast<unsigned>(i));
    const std::string stem = "train" + std::to_string(100 + i);
    test::write_bytes(dir / ("data/images/train/" + stem + ".png"), test::encode_png(pixels, h, w, 3));
    std::string labels = "0 0.5 0.5 0.4 0.3\n";
    if (i % 2) labels += "1 0.25 0.7 0.2 0.2\n";
    if (i % 3 == 0) labels += "1 0.8 0.2 0.3 0.35\n";
    test::write_text(dir / ("data/labels/train/" + stem + ".txt"), labels);
  }
  test::write_text(dir / "data/data.yaml", "path: .\ntrain: images/train\nval: images/train\nnames: [a, b]\n");
  ShardOptions options;
  options.data_yaml = dir / "data/data.yaml";
  options.out = dir / "shards";
  options.imgsz = 96;
  options.splits = {"train"};
  options.progress = false;
  options.threads = 1;
  build_shards(options);
  return options.out;
}

struct Recipe : ::testing::Test {
  static void SetUpTestSuite() {
    dir = new test::TempDir;
    shards = new ShardSet(make_shards(*dir), "train");
  }
  static void TearDownTestSuite() {
    delete shards;
    delete dir;
  }
  static test::TempDir* dir;
  static ShardSet* shards;
};
test::TempDir* Recipe::dir = nullptr;
ShardSet* Recipe::shards = nullptr;

// The settings the tests run through: defaults, strong geometry, closed mosaic at a
// load-resizing imgsz, colour only.
std::vector<std::pair<std::string, AugmentSettings>> setting_cases() {
  std::vector<std::pair<std::string, AugmentSettings>> cases;
  AugmentSettings a;
  a.imgsz = 96;
  cases.emplace_back("defaults", a);
  a.degrees = 30, a.shear = 8, a.perspective = 0.0008, a.translate = 0.25, a.scale = 0.8;
  a.flipud = 0.5, a.mixup = 0.6;
  cases.emplace_back("strong", a);
  AugmentSettings b;
  b.imgsz = 64;  // sources resized from the 96-pixel shards
  b.mosaic = 0.5, b.mixup = 1.0, b.degrees = 10, b.flipud = 0.3;
  cases.emplace_back("resize-half-mosaic", b);
  AugmentSettings c;
  c.imgsz = 96;
  c.translate = c.scale = 0.0;
  c.fliplr = 1.0;
  cases.emplace_back("identity-warp", c);
  return cases;
}

// FNV-1a over the pixels and the boxes' bytes of a sample.
std::uint64_t digest(const TrainSample& s, std::uint64_t h = 0xcbf29ce484222325ull) {
  auto add = [&h](const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  };
  add(s.pixels.data(), s.pixels.size());
  for (const LabelBox& b : s.boxes) {
    add(&b.class_id, sizeof b.class_id);
    add(&b.cx, sizeof b.cx), add(&b.cy, sizeof b.cy), add(&b.w, sizeof b.w), add(&b.h, sizeof b.h);
  }
  return h;
}

TEST_F(Recipe, CpuPipelineBytesArePinned) {
  // Taken from make_train_sample before the recipe form (same build flags as CI:
  // -O3, -std=c++20, so no FMA contraction). Seeds 3, epochs 0..2, both mosaic states.
  const std::uint64_t expected[] = {0x99b8a2461ebd298bull, 0xa69646ad5103fab7ull, 0xba832eb066c039ebull,
                                    0x685d7cc20164fb84ull};
  const auto cases = setting_cases();
  for (std::size_t k = 0; k < cases.size(); ++k) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (int epoch = 0; epoch < 3; ++epoch) {
      for (std::uint64_t index = 0; index < shards->size(); ++index) {
        h = digest(make_train_sample(*shards, index, 3, epoch, cases[k].second, epoch != 1), h);
      }
    }
    std::printf("%s: 0x%016llx\n", cases[k].first.c_str(), static_cast<unsigned long long>(h));
    EXPECT_EQ(h, expected[k]) << cases[k].first;
  }
}

TEST_F(Recipe, ExecutedRecipeEqualsTheSampleByteForByte) {
  std::size_t samples = 0, mosaics = 0, mixups = 0, warps = 0, flips = 0;
  for (const auto& [name, settings] : setting_cases()) {
    for (int epoch = 0; epoch < 3; ++epoch) {
      for (std::uint64_t index = 0; index < shards->size(); ++index) {
        const bool open = epoch != 2;
        const TrainRecipe recipe = make_train_recipe(*shards, index, 11, epoch, settings, open);
        const TrainSample expected = make_train_sample(*shards, index, 11, epoch, settings, open);
        const TrainRecipe copy = recipe;  // a recipe is a value: copies execute the same
        const TrainSample got = execute_recipe_cpu(copy);
        ASSERT_EQ(got.pixels, expected.pixels) << name << " epoch " << epoch << " index " << index;
        ASSERT_EQ(got.boxes, expected.boxes) << name << " epoch " << epoch << " index " << index;
        EXPECT_EQ(recipe.boxes, expected.boxes);
        EXPECT_EQ(execute_recipe_cpu(recipe).pixels, got.pixels);  // executing leaves the recipe as it was
        // The shape of the recipe: the output is imgsz square, sources match their use.
        EXPECT_EQ(recipe.height, settings.imgsz);
        EXPECT_EQ(recipe.width, settings.imgsz);
        for (const CompositeRecipe* c : {&recipe.image, &recipe.partner}) {
          if (c == &recipe.partner && !recipe.mixup) continue;
          EXPECT_EQ(c->sources.size(), c->mosaic ? 4u : 1u);
          EXPECT_EQ(c->out_h, settings.imgsz);
          EXPECT_EQ(c->out_w, settings.imgsz);
          EXPECT_EQ(c->canvas_h, c->mosaic ? 2 * settings.imgsz : settings.imgsz);
          for (const RecipeImage& source : c->sources) {
            EXPECT_EQ(source.pixels.size(), static_cast<std::size_t>(source.height) * source.width * 3);
            EXPECT_EQ(std::max(source.height, source.width), settings.imgsz);
          }
          if (!open) {
            EXPECT_FALSE(c->mosaic);
          }
        }
        if (!open) {
          EXPECT_FALSE(recipe.mixup);
        }
        ++samples;
        mosaics += recipe.image.mosaic;
        mixups += recipe.mixup;
        warps += recipe.image.warp;
        flips += recipe.flip_ud || recipe.flip_lr;
      }
    }
  }
  std::printf("%zu samples: %zu mosaic, %zu mixup, %zu warped, %zu flipped\n", samples, mosaics, mixups, warps, flips);
  EXPECT_GT(mosaics, 20u);  // every stage was exercised
  EXPECT_GT(mixups, 20u);
  EXPECT_GT(samples - warps, 5u);
  EXPECT_GT(flips, 20u);
}

TEST_F(Recipe, BadIndexIsAnInternalError) {
  AugmentSettings a;
  a.imgsz = 96;
  EXPECT_THROW(make_train_recipe(*shards, shards->size(), 0, 0, a, true), InternalError);
}

TEST_F(Recipe, FusedPerPixelPathEqualsTheCpuOps) {
  // The fused GPU kernel's per-pixel logic (kernels/augment_pixel.h sample_pixel), run on
  // the host over pack_recipe's parameters, against the CPU ops one after another.
  int sdiv[256], hdiv180[256];
  for (int i = 0; i < 256; ++i) sdiv[i] = kernels::pixel::hsv_sdiv(i), hdiv180[i] = kernels::pixel::hsv_hdiv180(i);
  std::size_t samples = 0;
  for (const auto& [name, settings] : setting_cases()) {
    for (int epoch = 0; epoch < 2; ++epoch) {
      for (std::uint64_t index = 0; index < shards->size(); ++index) {
        const TrainRecipe recipe = make_train_recipe(*shards, index, 5, epoch, settings, epoch == 0);
        std::vector<std::uint8_t> sources(recipe_source_bytes(recipe));
        std::size_t offset = 0;
        const kernels::AugmentSample packed = pack_recipe(recipe, sources.data(), &offset);
        ASSERT_EQ(offset, sources.size());
        const int s = recipe.height;
        std::vector<std::uint8_t> fused(static_cast<std::size_t>(s) * s * 3);
        for (int y = 0; y < s; ++y) {
          for (int x = 0; x < s; ++x) {
            kernels::pixel::sample_pixel(&fused[(static_cast<std::size_t>(y) * s + x) * 3], packed, sources.data(), s,
                                         x, y, sdiv, hdiv180);
          }
        }
        const std::vector<std::uint8_t> expected = execute_recipe_cpu(recipe).pixels;
        std::size_t mismatches = 0;
        for (std::size_t i = 0; i < fused.size(); ++i) mismatches += fused[i] != expected[i];
        ASSERT_EQ(mismatches, 0u) << name << " epoch " << epoch << " index " << index << ": of " << fused.size();
        ++samples;
      }
    }
  }
  EXPECT_EQ(samples, setting_cases().size() * 2 * shards->size());
}

TEST_F(Recipe, MalformedRecipesAreRefusedBeforeTheKernelReadsThem) {
  AugmentSettings a;
  a.imgsz = 96;
  a.mixup = 1.0;
  const TrainRecipe good = make_train_recipe(*shards, 1, 0, 0, a, true);
  EXPECT_NO_THROW(check_recipe(good));
  auto refused = [](TrainRecipe r) {
    try {
      check_recipe(r);
    } catch (const InternalError&) {
      return true;
    }
    return false;
  };
  TrainRecipe r = good;
  r.image.sources.pop_back();
  EXPECT_TRUE(refused(r));
  r = good;
  r.image.sources[0].pixels.pop_back();
  EXPECT_TRUE(refused(r));
  r = good;
  r.width = 64;
  EXPECT_TRUE(refused(r));
  r = good;
  r.partner.out_h = 95;
  EXPECT_TRUE(refused(r));
  r = good;
  if (r.image.mosaic) {
    r.image.tiles[3].x1b = r.image.sources[3].width;  // reads past the source
    r.image.tiles[3].x2a = r.image.tiles[3].x1a + 1, r.image.tiles[3].y2a = r.image.tiles[3].y1a + 1;
  } else {
    r.image.letterbox.top = r.image.canvas_h;
  }
  EXPECT_TRUE(refused(r));
}

TEST(AugmentPixel, WarpAndLetterboxPixelsEqualTheCpuOps) {
  // The per-pixel functions the single-op CUDA kernels run, on the host.
  const auto src = test::random_bytes(37 * 53 * 3, 3);
  const kernels::Matrix3 forward = {0.9, 0.2, 5, -0.15, 1.1, -3, 0.0004, -0.0003, 1};
  const kernels::Matrix3 inverse = kernels::invert3(forward);
  float m[9];
  for (int i = 0; i < 9; ++i) m[i] = static_cast<float>(inverse[i]);
  for (bool perspective : {false, true}) {
    std::vector<std::uint8_t> expected(41 * 29 * 3), got(expected.size());
    kernels::warp_u8_cpu(expected.data(), {41, 29, 3}, src.data(), {37, 53, 3}, inverse, perspective, 7);
    for (int y = 0; y < 41; ++y) {
      for (int x = 0; x < 29; ++x) {
        kernels::pixel::warp_pixel(&got[(static_cast<std::size_t>(y) * 29 + x) * 3], src.data(), 37, 53, m, perspective,
                                   7, x, y);
      }
    }
    EXPECT_EQ(got, expected) << (perspective ? "perspective" : "affine");
  }
  for (const auto& [out_h, out_w, scaleup] : {std::tuple{64, 64, true}, {20, 31, false}, {37, 53, true}}) {
    const kernels::LetterboxGeometry g = kernels::letterbox_geometry(37, 53, out_h, out_w, scaleup);
    std::vector<std::uint8_t> expected(static_cast<std::size_t>(g.out_h) * g.out_w * 3), got(expected.size());
    kernels::letterbox_u8_cpu(expected.data(), g, src.data(), 37, 53, 9);
    for (int y = 0; y < g.out_h; ++y) {
      for (int x = 0; x < g.out_w; ++x) {
        kernels::pixel::letterbox_pixel(&got[(static_cast<std::size_t>(y) * g.out_w + x) * 3], src.data(), 37, 53, g.top,
                                        g.left, g.resized_h, g.resized_w, 9, x, y);
      }
    }
    EXPECT_EQ(got, expected) << out_h << "x" << out_w;
  }
}

TEST(AugmentPixel, HsvDivisionTablesEqualOpenCvsDoubleRounding) {
  // The integer rule of augment_pixel.h against saturate_cast<int>(double) as OpenCV
  // builds the tables.
  for (int i = 1; i < 256; ++i) {
    EXPECT_EQ(kernels::pixel::hsv_sdiv(i), static_cast<int>(std::nearbyint((255 << 12) / (1.0 * i)))) << i;
    EXPECT_EQ(kernels::pixel::hsv_hdiv180(i), static_cast<int>(std::nearbyint((180 << 12) / (6.0 * i)))) << i;
  }
  EXPECT_EQ(kernels::pixel::hsv_sdiv(0), 0);
  EXPECT_EQ(kernels::pixel::hsv_hdiv180(0), 0);
}

// ---- the loader's recipes_only mode -----------------------------------------------------------

TrainLoaderOptions loader_options(bool recipes_only) {
  TrainLoaderOptions o;
  o.augment.imgsz = 64;
  o.augment.mixup = 0.5;
  o.augment.degrees = 5;
  o.batch = 4;
  o.epochs = 3;
  o.close_mosaic = 1;
  o.seed = 9;
  o.workers = 2;
  o.recipes_only = recipes_only;
  return o;
}

TEST_F(Recipe, LoaderRecipesGiveThePixelModesBatches) {
  TrainLoader pixels(*shards, loader_options(false));
  TrainLoader recipes(*shards, loader_options(true));
  std::size_t batches = 0;
  for (int epoch : {0, 2}) {  // mosaic open, then closed
    pixels.start_epoch(epoch);
    recipes.start_epoch(epoch);
    while (auto expected = pixels.next()) {
      auto got = recipes.next();
      ASSERT_TRUE(got.has_value());
      EXPECT_TRUE(expected->recipes.empty());
      EXPECT_TRUE(got->images.empty());
      EXPECT_EQ(got->shape, expected->shape);
      EXPECT_EQ(got->indices, expected->indices);
      EXPECT_EQ(got->number, expected->number);
      EXPECT_EQ(got->targets, expected->targets);
      ASSERT_EQ(got->recipes.size(), static_cast<std::size_t>(expected->shape.n));
      std::vector<float> images(expected->images.size());
      for (std::size_t slot = 0; slot < got->recipes.size(); ++slot) {
        const TrainSample sample = execute_recipe_cpu(got->recipes[slot]);
        hwc_u8_to_nchw_f32(images.data(), slot, sample.pixels.data(), 64, 64);
      }
      EXPECT_EQ(images, expected->images) << "epoch " << epoch << " batch " << expected->number;
      ++batches;
    }
    EXPECT_FALSE(recipes.next().has_value());
  }
  EXPECT_EQ(batches, 2 * recipes.batches_per_epoch());
}

}  // namespace
}  // namespace shrike::data
