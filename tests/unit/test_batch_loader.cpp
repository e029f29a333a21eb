// tests/unit/test_batch_loader.cpp: TrainLoader and ValLoader on shards of a small
// synthetic dataset. The train batches must be the same bytes whatever the worker count,
// a resumed epoch must continue exactly where the uninterrupted one was, ranks must split
// global batches, close_mosaic must follow the epoch, and a failing worker must surface
// in next(). The validation batch shapes are checked against the reference formula worked
// by hand for chosen aspect ratios. With SHRIKE_LOADER_BENCH=1 it prints the loader's
// throughput (images/s).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "pipeline/data/augment.h"
#include "pipeline/data/batch_loader.h"
#include "pipeline/data/shard_build.h"
#include "pipeline/data/shard_reader.h"
#include "tests/unit/test_support.h"

namespace shrike::data {
namespace {

namespace fs = std::filesystem;

// d/images/{train,val}: PNG images of the given (h, w) sizes, one or two boxes each.
void write_split(const fs::path& d, const std::string& split, const std::vector<std::pair<int, int>>& sizes) {
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto [h, w] = sizes[i];
    auto pixels = test::pattern_rgb(h, w, static_cast<unsigned>(i));
    const std::string stem = split + std::to_string(100 + i);
    test::write_bytes(d / ("images/" + split + "/" + stem + ".png"), test::encode_png(pixels, h, w, 3));
    test::write_text(d / ("labels/" + split + "/" + stem + ".txt"),
                     "0 0.5 0.5 0.4 0.3\n" + std::string(i % 2 ? "1 0.25 0.7 0.2 0.2\n" : ""));
  }
}

// 23 train images (a partial last batch at batch 4) and 6 val images whose aspect ratios
// h/w are 0.5, 0.75, 1, 2, 4/3 and 0.5.
fs::path make_shards(const test::TempDir& dir, int imgsz) {
  std::vector<std::pair<int, int>> train;
  for (int i = 0; i < 23; ++i) train.emplace_back(60 + 7 * (i % 5), 70 + 11 * (i % 4));
  write_split(dir / "data", "train", train);
  write_split(dir / "data", "val", {{100, 200}, {150, 200}, {200, 200}, {200, 100}, {200, 150}, {120, 240}});
  test::write_text(dir / "data/data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames: [a, b]\n");
  ShardOptions options;
  options.data_yaml = dir / "data/data.yaml";
  options.out = dir / "shards";
  options.imgsz = imgsz;
  options.progress = false;
  options.threads = 1;
  build_shards(options);
  return options.out;
}

TrainLoaderOptions small_options(unsigned workers) {
  TrainLoaderOptions o;
  o.augment.imgsz = 64;
  o.augment.mixup = 0.2;
  o.batch = 4;
  o.epochs = 3;
  o.close_mosaic = 1;
  o.seed = 9;
  o.workers = workers;
  o.prefetch = 2;
  return o;
}

std::vector<Batch> whole_epoch(TrainLoader& loader, int epoch, std::size_t first = 0) {
  loader.start_epoch(epoch, first);
  std::vector<Batch> out;
  while (auto batch = loader.next()) out.push_back(std::move(*batch));
  return out;
}

void expect_same(const Batch& a, const Batch& b) {
  EXPECT_EQ(a.number, b.number);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.targets, b.targets);
  EXPECT_TRUE(a.images == b.images) << "batch " << a.number << " images differ";
}

struct Loaders : ::testing::Test {
  static void SetUpTestSuite() {
    dir = new test::TempDir;
    const fs::path shards = make_shards(*dir, 64);
    train = new ShardSet(shards, "train");
    val = new ShardSet(shards, "val");
  }
  static void TearDownTestSuite() {
    delete train;
    delete val;
    delete dir;
  }
  static test::TempDir* dir;
  static ShardSet* train;
  static ShardSet* val;
};
test::TempDir* Loaders::dir = nullptr;
ShardSet* Loaders::train = nullptr;
ShardSet* Loaders::val = nullptr;

TEST_F(Loaders, BatchesAreTheSameBytesWithOneOrThreeWorkers) {
  TrainLoader one(*train, small_options(1));
  TrainLoader three(*train, small_options(3));
  EXPECT_EQ(one.batches_per_epoch(), 6u);  // ceil(23 / 4), the last batch holds 3
  auto a = whole_epoch(one, 0);
  auto b = whole_epoch(three, 0);
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 6u);
  for (std::size_t i = 0; i < a.size(); ++i) expect_same(a[i], b[i]);
  EXPECT_EQ(a.back().shape, (kernels::Shape4{3, 3, 64, 64}));
  std::set<std::uint64_t> seen;
  for (const Batch& batch : a) {
    seen.insert(batch.indices.begin(), batch.indices.end());
    EXPECT_EQ(batch.images.size(), batch.shape.numel());
    for (float v : batch.images) ASSERT_TRUE(v >= 0.0f && v <= 1.0f);
    for (std::size_t t = 0; t < batch.target_count(); ++t) {
      const float* row = &batch.targets[t * 6];
      EXPECT_LT(row[0], static_cast<float>(batch.shape.n));
      EXPECT_TRUE(row[1] == 0.0f || row[1] == 1.0f);
      for (int k = 2; k < 6; ++k) EXPECT_TRUE(row[k] >= 0.0f && row[k] <= 1.0f);
    }
  }
  EXPECT_EQ(seen.size(), 23u);  // every image once per epoch
  // Each image is exactly its sample from make_train_sample.
  auto sample = make_train_sample(*train, a[1].indices[2], 9, 0, small_options(1).augment, true);
  const std::size_t plane = 64 * 64;
  for (std::size_t i = 0; i < plane; ++i) {
    ASSERT_EQ(a[1].images[(2 * 3 + 1) * plane + i], sample.pixels[i * 3 + 1] / 255.0f);
  }
}

TEST_F(Loaders, ResumingMidEpochGivesTheUninterruptedBatches) {
  TrainLoader loader(*train, small_options(2));
  auto full = whole_epoch(loader, 1);
  auto resumed = whole_epoch(loader, 1, 3);
  ASSERT_EQ(resumed.size(), full.size() - 3);
  for (std::size_t i = 0; i < resumed.size(); ++i) expect_same(resumed[i], full[i + 3]);
  // Abandoning an epoch half way and starting another is clean.
  loader.start_epoch(0);
  ASSERT_TRUE(loader.next().has_value());
  auto other = whole_epoch(loader, 2);
  EXPECT_EQ(other.size(), 6u);
  EXPECT_TRUE(whole_epoch(loader, 1, 6).empty());
}

TEST_F(Loaders, EpochsDifferAndCloseMosaicFollowsTheEpoch) {
  TrainLoader loader(*train, small_options(2));
  auto e0 = whole_epoch(loader, 0);
  auto e1 = whole_epoch(loader, 1);
  EXPECT_NE(e0[0].indices, e1[0].indices);
  EXPECT_FALSE(e0[0].images == e1[0].images);
  // epochs 3, close_mosaic 1: epoch 2 has no mosaic (nor mixup).
  auto e2 = whole_epoch(loader, 2);
  const AugmentSettings a = small_options(1).augment;
  for (int epoch : {1, 2}) {
    const Batch& batch = epoch == 1 ? e1[0] : e2[0];
    auto closed = make_train_sample(*train, batch.indices[0], 9, epoch, a, false);
    auto open = make_train_sample(*train, batch.indices[0], 9, epoch, a, true);
    const auto& expected = epoch == 2 ? closed : open;
    bool same = true;
    for (std::size_t i = 0; i < 64 * 64 && same; ++i) same = batch.images[i] == expected.pixels[i * 3] / 255.0f;
    EXPECT_TRUE(same) << "epoch " << epoch;
  }
}

TEST_F(Loaders, RanksSplitEachGlobalBatch) {
  auto o = small_options(1);
  o.batch = 2;
  o.world = 2;
  o.rank = 0;
  TrainLoader rank0(*train, o);
  o.rank = 1;
  TrainLoader rank1(*train, o);
  auto single = small_options(1);  // world 1, batch 4 = global batch of 2 ranks x 2
  TrainLoader whole(*train, single);
  EXPECT_EQ(rank0.samples_per_epoch(), 12u);  // ceil(23 / 2), padded
  EXPECT_EQ(rank0.batches_per_epoch(), 6u);
  auto r0 = whole_epoch(rank0, 1), r1 = whole_epoch(rank1, 1), w = whole_epoch(whole, 1);
  for (std::size_t b = 0; b + 1 < w.size(); ++b) {
    std::multiset<std::uint64_t> global(w[b].indices.begin(), w[b].indices.end());
    std::multiset<std::uint64_t> split(r0[b].indices.begin(), r0[b].indices.end());
    split.insert(r1[b].indices.begin(), r1[b].indices.end());
    EXPECT_EQ(split, global) << "global batch " << b;
  }
  o.rank = 0;
  o.drop_last = true;
  o.world = 1;
  o.batch = 4;
  EXPECT_EQ(TrainLoader(*train, o).batches_per_epoch(), 5u);
}

TEST_F(Loaders, ValidationBatchesFollowTheRectangleRule) {
  // Ratios (h/w) 0.5, 0.75, 1, 2, 4/3, 0.5 sorted (stably): 0.5 (#0), 0.5 (#5), 0.75,
  // 1, 4/3, 2. Batches of 2 at imgsz 64, stride 32, pad 0.5:
  //   [0.5, 0.5]  all < 1: shape [0.5, 1] -> ceil(1.5)*32, ceil(2.5)*32 = 64 x 96
  //   [0.75, 1]   mixed:   shape [1, 1]   -> 96 x 96
  //   [4/3, 2]    all > 1: shape [1, 0.75] -> 96 x ceil(2.0)*32 = 96 x 64
  ValLoader loader(*val, 64, 2, 32, 2);
  EXPECT_EQ(loader.order(), (std::vector<std::uint64_t>{0, 5, 1, 2, 4, 3}));
  ASSERT_EQ(loader.batch_count(), 3u);
  EXPECT_EQ(loader.batch_shape(0), (std::pair<int, int>{64, 96}));
  EXPECT_EQ(loader.batch_shape(1), (std::pair<int, int>{96, 96}));
  EXPECT_EQ(loader.batch_shape(2), (std::pair<int, int>{96, 64}));
  // Image #0 (100 x 200) is stored at 32 x 64 and not scaled up: 16 px of 114 above,
  // below, left and right; its box (0.5, 0.5, 0.4, 0.3) moves by the padding.
  ValBatch batch = loader.load(0);
  EXPECT_EQ(batch.shape, (kernels::Shape4{2, 3, 64, 96}));
  const ValImageInfo& info = batch.images_info[0];
  EXPECT_EQ(info.index, 0u);
  EXPECT_EQ(info.orig_height, 100);
  EXPECT_EQ(info.orig_width, 200);
  EXPECT_DOUBLE_EQ(info.ratio_h, 0.32);
  EXPECT_DOUBLE_EQ(info.ratio_w, 0.32);
  EXPECT_EQ(info.pad_left, 16);
  EXPECT_EQ(info.pad_top, 16);
  EXPECT_EQ(batch.images[0], 114.0f / 255.0f);
  ASSERT_GE(batch.target_count(), 1u);
  EXPECT_EQ(batch.targets[0], 0.0f);
  EXPECT_NEAR(batch.targets[2], (0.5 * 64 + 16) / 96, 1e-6);
  EXPECT_NEAR(batch.targets[3], (0.5 * 32 + 16) / 64, 1e-6);
  EXPECT_NEAR(batch.targets[4], 0.4 * 64 / 96, 1e-6);
  EXPECT_NEAR(batch.targets[5], 0.3 * 32 / 64, 1e-6);
  // Back to the original: (letterboxed - pad) / ratio.
  EXPECT_NEAR((batch.targets[2] * 96 - info.pad_left) / info.ratio_w, 100.0, 1e-3);
  ValBatch last = loader.load(2);
  EXPECT_EQ(last.indices, (std::vector<std::uint64_t>{4, 3}));
  EXPECT_EQ(last.images_info[1].pad_left, 16);  // 200x100 stored 64x32 in a 96x64 box
  EXPECT_EQ(last.images_info[1].pad_top, 16);
}

TEST(TrainLoaderFailure, AWorkerExceptionReachesNext) {
  test::TempDir dir;
  const fs::path shards = make_shards(dir, 64);
  ShardSet broken(shards, "train");
  // The index arrays are in memory; truncating the files makes every pixel read fail.
  for (const auto& entry : fs::directory_iterator(shards / "train")) {
    if (entry.path().extension() == ".h5") fs::resize_file(entry.path(), 0);
  }
  TrainLoader loader(broken, small_options(2));
  loader.start_epoch(0);
  EXPECT_ANY_THROW({ while (loader.next()) {} });
}

TEST(TrainLoaderSpeed, ThroughputReport) {
  // Not a pass/fail check: prints images/s of the train loader with default
  // augmentation (mosaic on) on shards stored at the training imgsz. Runs only with
  // SHRIKE_LOADER_BENCH=1 (about 4 s).
  if (std::getenv("SHRIKE_LOADER_BENCH") == nullptr) GTEST_SKIP() << "set SHRIKE_LOADER_BENCH=1 to measure";
  for (int imgsz : {320, 640}) {
    test::TempDir dir;
    ShardSet shards(make_shards(dir, imgsz), "train");
    for (unsigned workers : {1u, 2u}) {
      auto o = small_options(workers);
      o.augment = AugmentSettings{};
      o.augment.imgsz = imgsz;
      o.batch = 8;
      o.epochs = 100;
      TrainLoader loader(shards, o);
      const auto start = std::chrono::steady_clock::now();
      std::size_t images = 0;
      for (int epoch = 0; epoch < 3; ++epoch) {
        loader.start_epoch(epoch);
        while (auto batch = loader.next()) images += batch->indices.size();
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("train loader imgsz %d, %u worker(s), mosaic: %.1f images/s\n", imgsz, workers, images / seconds);
    }
  }
}

}  // namespace
}  // namespace shrike::data
