// tests/unit/test_augment.cpp: the augmentation pixel ops (kernels/augment.h) against
// values worked out by hand from the OpenCV and Ultralytics sources, and the training
// sample pipeline (pipeline/data/augment.h) on a synthetic dataset whose objects are
// solid coloured rectangles: after mosaic, affine and flips each output box must still
// cover its colour, and no box may leave the image.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/augment.h"
#include "pipeline/core/error.h"
#include "pipeline/data/augment.h"
#include "pipeline/data/shard_build.h"
#include "pipeline/data/shard_format.h"
#include "pipeline/data/shard_reader.h"
#include "tests/unit/test_support.h"

namespace shrike {
namespace {

namespace fs = std::filesystem;
using kernels::ImageShape;

// ---- kernels ------------------------------------------------------------------------------

TEST(AugmentKernels, RgbToHsvMatchesOpenCvFixedPoint) {
  // (r, g, b) -> (h, s, v) from RGB2HSV_b's 12-bit tables, worked by hand:
  // sdiv[v] = round(255*4096/v), hdiv180[d] = round(180*4096/(6d)).
  struct Case {
    std::uint8_t r, g, b, h, s, v;
  } cases[] = {
      {255, 0, 0, 0, 255, 255},      // red
      {0, 255, 0, 60, 255, 255},     // green: (510*482 + 2048) >> 12 = 60
      {0, 0, 255, 120, 255, 255},    // blue: (1020*482 + 2048) >> 12 = 120
      {114, 114, 114, 0, 0, 114},    // the pad grey has no saturation
      {200, 100, 50, 10, 191, 200},  // (50*819 + 2048) >> 12 = 10; (150*5222 + 2048) >> 12 = 191
      {200, 50, 100, 170, 191, 200}, // negative hue wraps: -10 + 180
  };
  for (const Case& c : cases) {
    auto hsv = kernels::rgb_to_hsv_u8(c.r, c.g, c.b);
    EXPECT_EQ(hsv[0], c.h) << int(c.r) << "," << int(c.g) << "," << int(c.b);
    EXPECT_EQ(hsv[1], c.s) << int(c.r) << "," << int(c.g) << "," << int(c.b);
    EXPECT_EQ(hsv[2], c.v) << int(c.r) << "," << int(c.g) << "," << int(c.b);
  }
}

TEST(AugmentKernels, HsvToRgbMatchesOpenCvFloatPath) {
  // HSV2RGB_simd in float32, truncated: worked with float32 rounding after every step.
  struct Case {
    std::uint8_t h, s, v, r, g, b;
  } cases[] = {
      {0, 255, 255, 255, 0, 0},   {60, 255, 255, 0, 255, 0},     {120, 255, 255, 0, 0, 255},
      {0, 0, 114, 114, 114, 114}, {10, 191, 200, 200, 100, 50},  {170, 191, 200, 200, 50, 100},
      {30, 128, 77, 77, 77, 38},  {179, 255, 255, 255, 0, 8},
      // h*6/180 is 3.0000002 in float32, so tab2 = v*(1 - s*2e-7) truncates to 249.
      {90, 100, 250, 151, 249, 250},
  };
  for (const Case& c : cases) {
    auto rgb = kernels::hsv_to_rgb_u8(c.h, c.s, c.v);
    EXPECT_EQ(rgb[0], c.r) << int(c.h) << "," << int(c.s) << "," << int(c.v);
    EXPECT_EQ(rgb[1], c.g) << int(c.h) << "," << int(c.s) << "," << int(c.v);
    EXPECT_EQ(rgb[2], c.b) << int(c.h) << "," << int(c.s) << "," << int(c.v);
  }
  for (int grey = 0; grey < 256; ++grey) {  // greys survive the round trip
    auto g = static_cast<std::uint8_t>(grey);
    auto hsv = kernels::rgb_to_hsv_u8(g, g, g);
    auto rgb = kernels::hsv_to_rgb_u8(hsv[0], hsv[1], hsv[2]);
    EXPECT_EQ(rgb, (std::array<std::uint8_t, 3>{g, g, g}));
  }
}

TEST(AugmentKernels, HsvTablesFollowTheReferenceRule) {
  // Positive hue gain: (x + 1.8) % 180; sat halves (truncated); val * 1.5 clipped at 255.
  auto t = kernels::hsv_tables(0.01, -0.5, 0.5);
  EXPECT_EQ(t.hue[0], 1);
  EXPECT_EQ(t.hue[100], 101);
  EXPECT_EQ(t.hue[178], 179);
  EXPECT_EQ(t.hue[179], 0);  // 180.8 % 180 = 0.8
  EXPECT_EQ(t.sat[255], 127);
  EXPECT_EQ(t.sat[3], 1);
  EXPECT_EQ(t.sat[0], 0);
  EXPECT_EQ(t.val[100], 150);
  EXPECT_EQ(t.val[171], 255);  // 256.5 clipped
  EXPECT_EQ(t.val[1], 1);
  // Negative hue gain wraps like numpy's remainder: -1.8 % 180 = 178.2.
  auto n = kernels::hsv_tables(-0.01, 0.0, 0.0);
  EXPECT_EQ(n.hue[0], 178);
  EXPECT_EQ(n.hue[1], 179);
  EXPECT_EQ(n.hue[2], 0);
  for (int x = 0; x < 256; ++x) EXPECT_EQ(n.sat[x], x);
}

TEST(AugmentKernels, HsvJitterChangesColourButNotGrey) {
  std::vector<std::uint8_t> image = {200, 100, 50, 114, 114, 114};
  kernels::hsv_jitter_u8_cpu(image.data(), 1, 2, kernels::hsv_tables(0.1, 0.0, 0.0));
  // Hue 10 -> 28 (10 + 18): sector 0 with frac 0.8 -> g = v*(1 - s*(1 - 0.8)).
  EXPECT_EQ(image[0], 200);
  EXPECT_GT(image[1], 150);
  EXPECT_EQ(image[2], 50);
  EXPECT_EQ(image[3], 114);
  EXPECT_EQ(image[4], 114);
  EXPECT_EQ(image[5], 114);
}

std::vector<std::uint8_t> numbered_image(int h, int w) {
  std::vector<std::uint8_t> image(static_cast<std::size_t>(h) * w * 3);
  for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<std::uint8_t>((i * 7) % 251);
  return image;
}

std::uint8_t at(const std::vector<std::uint8_t>& image, int w, int y, int x, int c) {
  return image[(static_cast<std::size_t>(y) * w + x) * 3 + c];
}

TEST(AugmentKernels, FlipsMirrorRowsAndColumns) {
  const int h = 3, w = 5;
  auto image = numbered_image(h, w);
  auto lr = image, ud = image;
  kernels::flip_lr_u8_cpu(lr.data(), h, w);
  kernels::flip_ud_u8_cpu(ud.data(), h, w);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(at(lr, w, y, x, c), at(image, w, y, w - 1 - x, c));
        EXPECT_EQ(at(ud, w, y, x, c), at(image, w, h - 1 - y, x, c));
      }
    }
  }
}

TEST(AugmentKernels, WarpIdentityTranslationRotationAndPerspective) {
  const int h = 6, w = 6;
  auto src = numbered_image(h, w);
  std::vector<std::uint8_t> dst(src.size());
  kernels::warp_u8_cpu(dst.data(), {h, w, 3}, src.data(), {h, w, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, false);
  EXPECT_EQ(dst, src);
  // Shift right by 2: dst(x, y) = src(x - 2, y), border 114 on the left.
  kernels::warp_u8_cpu(dst.data(), {h, w, 3}, src.data(), {h, w, 3}, {1, 0, -2, 0, 1, 0, 0, 0, 1}, false);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      EXPECT_EQ(at(dst, w, y, x, 1), x < 2 ? 114 : at(src, w, y, x - 2, 1));
    }
  }
  // 90 degrees about the centre: dst(x, y) = src(y, w - 1 - x), exact.
  kernels::warp_u8_cpu(dst.data(), {h, w, 3}, src.data(), {h, w, 3}, {0, 1, 0, -1, 0, w - 1.0, 0, 0, 1}, false);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) EXPECT_EQ(at(dst, w, y, x, 2), at(src, w, w - 1 - x, y, 2));
  }
  // Half a pixel: the mean of two neighbours, rounded; the last column mixes in 114.
  std::vector<std::uint8_t> row = {10, 10, 10, 21, 21, 21};
  std::vector<std::uint8_t> half(6);
  kernels::warp_u8_cpu(half.data(), {1, 2, 3}, row.data(), {1, 2, 3}, {1, 0, 0.5, 0, 1, 0, 0, 0, 1}, false);
  EXPECT_EQ(half[0], 16);  // 10 + 11 * 0.5 = 15.5 -> 16
  EXPECT_EQ(half[3], 68);  // (21 + 114) / 2 = 67.5 -> 68; the row below is border too
  // Projective W = 2 halves coordinates: dst(2x, 2y) = src(x, y).
  std::vector<std::uint8_t> big(static_cast<std::size_t>(2 * h) * (2 * w) * 3);
  kernels::warp_u8_cpu(big.data(), {2 * h, 2 * w, 3}, src.data(), {h, w, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 2}, true);
  EXPECT_EQ(at(big, 2 * w, 4, 6, 0), at(src, w, 2, 3, 0));
  EXPECT_EQ(at(big, 2 * w, 10, 2, 1), at(src, w, 5, 1, 1));
}

TEST(AugmentKernels, MatrixInverse) {
  kernels::Matrix3 m = {2, 0.5, 3, -1, 1.5, 7, 0.001, 0.002, 1};
  auto product = kernels::matmul3(m, kernels::invert3(m));
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(product[i], i % 4 == 0 ? 1.0 : 0.0, 1e-12);
  EXPECT_THROW(kernels::invert3({1, 2, 3, 2, 4, 6, 0, 0, 1}), std::invalid_argument);
}

TEST(AugmentKernels, LetterboxGeometryIsExact) {
  auto a = kernels::letterbox_geometry(480, 640, 640, 640, true);
  EXPECT_EQ(a.ratio, 1.0);
  EXPECT_EQ(a.resized_h, 480);
  EXPECT_EQ(a.top, 80);
  EXPECT_EQ(a.bottom, 80);
  EXPECT_EQ(a.left, 0);
  // 300x200 scaled up by 640/300: width round(426.67) = 427, dw = 106.5 -> 106 / 107.
  auto b = kernels::letterbox_geometry(300, 200, 640, 640, true);
  EXPECT_EQ(b.resized_h, 640);
  EXPECT_EQ(b.resized_w, 427);
  EXPECT_EQ(b.left, 106);
  EXPECT_EQ(b.right, 107);
  EXPECT_EQ(b.out_w, 640);
  auto c = kernels::letterbox_geometry(300, 200, 640, 640, false);  // no upscaling
  EXPECT_EQ(c.ratio, 1.0);
  EXPECT_EQ(c.top, 170);
  EXPECT_EQ(c.left, 220);
  // Python's round is half to even: 3 * 1.5 = 4.5 -> 4.
  auto d = kernels::letterbox_geometry(4, 3, 6, 6, true);
  EXPECT_EQ(d.resized_w, 4);
  EXPECT_EQ(d.left, 1);
  EXPECT_EQ(d.right, 1);
}

TEST(AugmentKernels, LetterboxPadsWith114AndCopiesTheImage) {
  auto src = numbered_image(2, 4);
  auto g = kernels::letterbox_geometry(2, 4, 4, 4, true);
  ASSERT_EQ(g.top, 1);
  std::vector<std::uint8_t> dst(4 * 4 * 3);
  kernels::letterbox_u8_cpu(dst.data(), g, src.data(), 2, 4);
  for (int x = 0; x < 4; ++x) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(at(dst, 4, 0, x, c), 114);
      EXPECT_EQ(at(dst, 4, 3, x, c), 114);
      EXPECT_EQ(at(dst, 4, 1, x, c), at(src, 4, 0, x, c));
      EXPECT_EQ(at(dst, 4, 2, x, c), at(src, 4, 1, x, c));
    }
  }
}

TEST(AugmentKernels, MosaicTilesUseTheReferenceCoordinates) {
  // s = 4 (canvas 8x8), centre (5, 3), a 3x4 image.
  auto t0 = kernels::mosaic_tile(0, 5, 3, 3, 4, 4);
  EXPECT_EQ((std::array<int, 6>{t0.x1a, t0.y1a, t0.x2a, t0.y2a, t0.x1b, t0.y1b}), (std::array<int, 6>{1, 0, 5, 3, 0, 0}));
  auto t1 = kernels::mosaic_tile(1, 5, 3, 3, 4, 4);
  EXPECT_EQ((std::array<int, 6>{t1.x1a, t1.y1a, t1.x2a, t1.y2a, t1.x1b, t1.y1b}), (std::array<int, 6>{5, 0, 8, 3, 0, 0}));
  auto t2 = kernels::mosaic_tile(2, 5, 3, 3, 4, 4);
  EXPECT_EQ((std::array<int, 6>{t2.x1a, t2.y1a, t2.x2a, t2.y2a, t2.x1b, t2.y1b}), (std::array<int, 6>{1, 3, 5, 6, 0, 0}));
  auto t3 = kernels::mosaic_tile(3, 5, 3, 3, 4, 4);
  EXPECT_EQ((std::array<int, 6>{t3.x1a, t3.y1a, t3.x2a, t3.y2a, t3.x1b, t3.y1b}), (std::array<int, 6>{5, 3, 8, 6, 0, 0}));
  // An image larger than its quarter is cropped from its far side: padw = padh = -2.
  auto big = kernels::mosaic_tile(0, 2, 2, 4, 4, 4);
  EXPECT_EQ(big.padw(), -2);
  EXPECT_EQ(big.padh(), -2);
  auto image = numbered_image(4, 4);
  std::vector<std::uint8_t> canvas(8 * 8 * 3, 114);
  kernels::mosaic_place_u8_cpu(canvas.data(), 4, image.data(), 4, 4, big);
  EXPECT_EQ(at(canvas, 8, 1, 1, 0), at(image, 4, 3, 3, 0));
  EXPECT_EQ(at(canvas, 8, 0, 0, 2), at(image, 4, 2, 2, 2));
  EXPECT_EQ(at(canvas, 8, 2, 2, 0), 114);
}

// ---- the sample pipeline ----------------------------------------------------------------

constexpr std::uint8_t kBackground[3] = {40, 90, 160};
constexpr std::uint8_t kClassColour[2][3] = {{230, 20, 20}, {20, 210, 20}};

// d/images/train: `count` PNG images of varied sizes, each a blue background with one
// red (class 0) and, on odd images, one green (class 1) rectangle; labels to match.
fs::path make_coloured_dataset(const fs::path& d, int count) {
  const int sizes[][2] = {{96, 128}, {128, 96}, {120, 120}, {64, 160}, {150, 100}, {100, 100}};
  for (int i = 0; i < count; ++i) {
    const int h = sizes[i % 6][0], w = sizes[i % 6][1];
    std::vector<unsigned char> pixels(static_cast<std::size_t>(h) * w * 3);
    for (std::size_t p = 0; p < pixels.size(); ++p) pixels[p] = kBackground[p % 3];
    std::string labels;
    auto paint = [&](int cls, int x1, int y1, int x2, int y2) {
      for (int y = y1; y < y2; ++y) {
        for (int x = x1; x < x2; ++x) {
          for (int c = 0; c < 3; ++c) pixels[(static_cast<std::size_t>(y) * w + x) * 3 + c] = kClassColour[cls][c];
        }
      }
      labels += std::to_string(cls) + " " + std::to_string((x1 + x2) / 2.0 / w) + " " + std::to_string((y1 + y2) / 2.0 / h) +
                " " + std::to_string(static_cast<double>(x2 - x1) / w) + " " + std::to_string(static_cast<double>(y2 - y1) / h) +
                "\n";
    };
    paint(0, w / 8 + i % 5, h / 6, w / 2, h / 2 + i % 7);
    if (i % 2 == 1) paint(1, w / 2 + 4, h / 2 + 4, w - 6, h - 8);
    const std::string stem = "img" + std::to_string(100 + i);
    test::write_bytes(d / ("images/train/" + stem + ".png"), test::encode_png(pixels, h, w, 3));
    test::write_text(d / ("labels/train/" + stem + ".txt"), labels);
  }
  test::write_text(d / "data.yaml", "path: .\ntrain: images/train\nval: images/train\nnames: [red, green]\n");
  return d / "data.yaml";
}

fs::path shard_dataset(const test::TempDir& dir, int count, int imgsz) {
  data::ShardOptions options;
  options.data_yaml = make_coloured_dataset(dir / "data", count);
  options.out = dir / "shards";
  options.imgsz = imgsz;
  options.splits = {"train"};
  options.progress = false;
  options.threads = 1;
  data::build_shards(options);
  return options.out;
}

bool looks_like(const std::uint8_t* p, int cls) {
  for (int c = 0; c < 3; ++c) {
    if (std::abs(int(p[c]) - int(kClassColour[cls][c])) > 40) return false;
  }
  return true;
}

struct Pipeline : ::testing::Test {
  static void SetUpTestSuite() {
    dir = new test::TempDir;
    shards = new data::ShardSet(shard_dataset(*dir, 12, 128), "train");
  }
  static void TearDownTestSuite() {
    delete shards;
    delete dir;
  }
  static test::TempDir* dir;
  static data::ShardSet* shards;
};
test::TempDir* Pipeline::dir = nullptr;
data::ShardSet* Pipeline::shards = nullptr;

TEST_F(Pipeline, MosaicAffineFlipBoxesStillCoverTheirColour) {
  data::AugmentSettings a;
  a.imgsz = 128;
  a.hsv_h = a.hsv_s = a.hsv_v = 0.0;  // keep the colours
  a.flipud = 0.5;
  a.degrees = 15.0;
  int checked = 0;
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (std::uint64_t index = 0; index < shards->size(); ++index) {
      auto sample = data::make_train_sample(*shards, index, 7, epoch, a, true);
      ASSERT_EQ(sample.pixels.size(), 128u * 128u * 3u);
      for (const auto& b : sample.boxes) {
        // Boxes clipped inside the image: the centre of a rotated rectangle's bounding
        // box is the rectangle's centre, so it shows the colour when nothing was clipped.
        const float x1 = (b.cx - b.w / 2) * 128, x2 = (b.cx + b.w / 2) * 128;
        const float y1 = (b.cy - b.h / 2) * 128, y2 = (b.cy + b.h / 2) * 128;
        if (x1 < 1 || y1 < 1 || x2 > 127 || y2 > 127) continue;
        const int cx = static_cast<int>(b.cx * 128), cy = static_cast<int>(b.cy * 128);
        EXPECT_TRUE(looks_like(&sample.pixels[(static_cast<std::size_t>(cy) * 128 + cx) * 3], b.class_id))
            << "epoch " << epoch << " index " << index << " box centre (" << cx << ", " << cy << ")";
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 20);
}

TEST_F(Pipeline, UnrotatedBoxesAreFilledWithTheirColour) {
  data::AugmentSettings a;
  a.imgsz = 128;
  a.hsv_h = a.hsv_s = a.hsv_v = 0.0;
  a.flipud = 0.5;
  for (std::uint64_t index = 0; index < shards->size(); ++index) {
    auto sample = data::make_train_sample(*shards, index, 11, 0, a, true);
    for (const auto& b : sample.boxes) {
      const int x1 = static_cast<int>(std::ceil((b.cx - b.w / 2) * 128)) + 1;
      const int x2 = static_cast<int>(std::floor((b.cx + b.w / 2) * 128)) - 1;
      const int y1 = static_cast<int>(std::ceil((b.cy - b.h / 2) * 128)) + 1;
      const int y2 = static_cast<int>(std::floor((b.cy + b.h / 2) * 128)) - 1;
      int inside = 0, coloured = 0;
      for (int y = y1; y < y2; ++y) {
        for (int x = x1; x < x2; ++x, ++inside) {
          coloured += looks_like(&sample.pixels[(static_cast<std::size_t>(y) * 128 + x) * 3], b.class_id);
        }
      }
      if (inside > 0) {
        EXPECT_GT(coloured, inside * 9 / 10) << "index " << index << " class " << b.class_id;
      }
    }
  }
}

TEST_F(Pipeline, BoxesNeverLeaveTheImageUnderStrongAugmentation) {
  data::AugmentSettings a;
  a.imgsz = 128;
  a.degrees = 40, a.shear = 10, a.perspective = 0.0005, a.translate = 0.3, a.scale = 0.9;
  a.flipud = 0.5, a.mixup = 0.5;
  std::size_t boxes = 0;
  for (int epoch = 0; epoch < 4; ++epoch) {
    for (std::uint64_t index = 0; index < shards->size(); ++index) {
      auto sample = data::make_train_sample(*shards, index, 3, epoch, a, epoch % 2 == 0);
      ASSERT_EQ(sample.pixels.size(), 128u * 128u * 3u);
      for (const auto& b : sample.boxes) {
        EXPECT_GE(b.cx - b.w / 2, -1e-5f);
        EXPECT_GE(b.cy - b.h / 2, -1e-5f);
        EXPECT_LE(b.cx + b.w / 2, 1 + 1e-5f);
        EXPECT_LE(b.cy + b.h / 2, 1 + 1e-5f);
        EXPECT_GT(b.w * 128, 2.0f);  // box_candidates: wider and taller than 2 px
        EXPECT_GT(b.h * 128, 2.0f);
        EXPECT_TRUE(b.class_id == 0 || b.class_id == 1);
        ++boxes;
      }
    }
  }
  EXPECT_GT(boxes, 30u);
}

TEST_F(Pipeline, SameSeedEpochIndexGivesSameBytesAndEpochsDiffer) {
  data::AugmentSettings a;
  a.imgsz = 128;
  a.mixup = 0.3;
  auto first = data::make_train_sample(*shards, 5, 42, 2, a, true);
  auto again = data::make_train_sample(*shards, 5, 42, 2, a, true);
  EXPECT_EQ(first.pixels, again.pixels);
  EXPECT_EQ(first.boxes, again.boxes);
  EXPECT_NE(data::make_train_sample(*shards, 5, 42, 3, a, true).pixels, first.pixels);
  EXPECT_NE(data::make_train_sample(*shards, 5, 43, 2, a, true).pixels, first.pixels);
}

TEST_F(Pipeline, ClosedMosaicIsTheLetterboxedImage) {
  EXPECT_TRUE(data::mosaic_open(0, 10, 3));
  EXPECT_TRUE(data::mosaic_open(6, 10, 3));
  EXPECT_FALSE(data::mosaic_open(7, 10, 3));
  EXPECT_FALSE(data::mosaic_open(9, 10, 3));
  EXPECT_TRUE(data::mosaic_open(9, 10, 0));
  EXPECT_FALSE(data::mosaic_open(0, 5, 10));  // shorter than close_mosaic: closed throughout
  // With no scale, translation or colour change, affine is the identity: the output is
  // exactly the stored image letterboxed to 128 x 128, boxes moved by the padding.
  data::AugmentSettings a;
  a.imgsz = 128;
  a.hsv_h = a.hsv_s = a.hsv_v = 0.0;
  a.translate = a.scale = 0.0;
  a.fliplr = 0.0;
  a.mixup = 1.0;  // closed with mosaic
  for (std::uint64_t index : {0u, 3u, 4u}) {
    auto sample = data::make_train_sample(*shards, index, 1, 9, a, false);
    auto stored = shards->read(index);
    auto g = kernels::letterbox_geometry(stored.info.height, stored.info.width, 128, 128, true);
    std::vector<std::uint8_t> expected(128 * 128 * 3);
    kernels::letterbox_u8_cpu(expected.data(), g, stored.pixels.data(), stored.info.height, stored.info.width);
    EXPECT_EQ(sample.pixels, expected) << "index " << index;
    ASSERT_EQ(sample.boxes.size(), stored.boxes.size());
    for (std::size_t i = 0; i < stored.boxes.size(); ++i) {
      EXPECT_NEAR(sample.boxes[i].cx, (stored.boxes[i].cx * stored.info.width + g.left) / 128, 1e-5);
      EXPECT_NEAR(sample.boxes[i].cy, (stored.boxes[i].cy * stored.info.height + g.top) / 128, 1e-5);
      EXPECT_NEAR(sample.boxes[i].w, stored.boxes[i].w * stored.info.width / 128, 1e-5);
    }
    // Open mosaic: four images, a different picture.
    EXPECT_NE(data::make_train_sample(*shards, index, 1, 0, a, true).pixels, expected);
  }
}

TEST_F(Pipeline, MixupKeepsTheFirstImagesBoxesAndAddsThePartners) {
  data::AugmentSettings a;
  a.imgsz = 128;
  a.hsv_h = a.hsv_s = a.hsv_v = 0.0;
  a.fliplr = 0.0;
  int grew = 0;
  for (std::uint64_t index = 0; index < shards->size(); ++index) {
    a.mixup = 0.0;
    auto plain = data::make_train_sample(*shards, index, 5, 1, a, true);
    a.mixup = 1.0;
    auto mixed = data::make_train_sample(*shards, index, 5, 1, a, true);
    ASSERT_GE(mixed.boxes.size(), plain.boxes.size());
    EXPECT_TRUE(std::equal(plain.boxes.begin(), plain.boxes.end(), mixed.boxes.begin()));
    grew += mixed.boxes.size() > plain.boxes.size();
    EXPECT_NE(mixed.pixels, plain.pixels);
  }
  EXPECT_GT(grew, 6);
}

TEST_F(Pipeline, LoadResizedFollowsTheReferenceLoadImage) {
  auto full = data::load_resized(*shards, 3, 128);  // stored at 128: as stored
  EXPECT_EQ(full.height, 52);                       // 64x160: ceil(64 * 128/160) = 52
  EXPECT_EQ(full.width, 128);
  int h = 0, w = 0;
  data::stored_size(full.info.orig_height, full.info.orig_width, 64, &h, &w);
  auto half = data::load_resized(*shards, 3, 64);
  EXPECT_EQ(h, 26);  // ceil(64 * 64/160)
  EXPECT_EQ(half.height, h);
  EXPECT_EQ(half.width, w);
  EXPECT_EQ(std::max(half.height, half.width), 64);
  EXPECT_EQ(half.pixels.size(), static_cast<std::size_t>(h) * w * 3);
  EXPECT_EQ(half.boxes, full.boxes);
}

TEST(AugmentSettings, Validation) {
  data::AugmentSettings a;
  EXPECT_NO_THROW(data::validate_augment_settings(a));
  a.fliplr = 1.5;
  EXPECT_THROW(data::validate_augment_settings(a), UserError);
  a = {};
  a.scale = 1.0;
  EXPECT_THROW(data::validate_augment_settings(a), UserError);
  a = {};
  a.imgsz = 31;
  EXPECT_THROW(data::validate_augment_settings(a), UserError);
}

}  // namespace
}  // namespace shrike
