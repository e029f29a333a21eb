// tests/unit/test_shards.cpp: shard writing and reading end to end. A small dataset
// of real JPEG and PNG files (with bad samples mixed in) is sharded; the reader must
// give back exactly the pixels of a direct decode + resize and the validated boxes.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "kernels/resize.h"
#include "pipeline/core/error.h"
#include "pipeline/core/sha256.h"
#include "pipeline/data/image_codec.h"
#include "pipeline/data/label_file.h"
#include "pipeline/data/shard_build.h"
#include "pipeline/data/shard_cache.h"
#include "pipeline/data/shard_manifest.h"
#include "pipeline/data/shard_reader.h"
#include "tests/unit/test_support.h"

namespace shrike::data {
namespace {

namespace fs = std::filesystem;

// d/images/train: 8 good images of varied sizes (6 JPEG, 2 PNG), one truncated JPEG,
// one HTML page named .jpg, one image whose label has an unknown class, one without a
// label file; d/images/val: 3 good images. 2 classes.
fs::path make_dataset(const fs::path& d) {
  const int sizes[][2] = {{480, 640}, {300, 200}, {640, 640}, {123, 457}, {800, 600}, {64, 96}, {500, 333}, {240, 320}};
  for (int i = 0; i < 8; ++i) {
    int h = sizes[i][0], w = sizes[i][1];
    auto pixels = test::pattern_rgb(h, w, static_cast<unsigned>(i));
    std::string stem = "images/train/img" + std::to_string(i);
    if (i % 4 == 3) {
      test::write_bytes(d / (stem + ".png"), test::encode_png(pixels, h, w, 3));
    } else {
      test::write_bytes(d / (stem + ".jpg"), encode_jpeg(RgbImage{h, w, pixels}, 90, false));
    }
    if (i != 5) {
      test::write_text(d / ("labels/train/img" + std::to_string(i) + ".txt"),
                       "0 0.5 0.5 0.25 0.25\n1 0.2 0.3 0.1 0.2\n" + std::string(i == 2 ? "1 0.2 0.3 0.1 0.2\n" : ""));
    }
  }
  auto truncated = encode_jpeg(RgbImage{100, 100, test::pattern_rgb(100, 100, 9)}, 90, false);
  truncated.resize(truncated.size() / 3);
  test::write_bytes(d / "images/train/z_truncated.jpg", truncated);
  test::write_text(d / "images/train/z_page.jpg", "<html>not found</html>");
  test::write_bytes(d / "images/train/z_badclass.jpg", encode_jpeg(RgbImage{50, 50, test::pattern_rgb(50, 50, 1)}, 90, false));
  test::write_text(d / "labels/train/z_badclass.txt", "0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.2 0.2\n");
  for (int i = 0; i < 3; ++i) {
    test::write_bytes(d / ("images/val/v" + std::to_string(i) + ".jpg"),
                      encode_jpeg(RgbImage{200 + 10 * i, 300, test::pattern_rgb(200 + 10 * i, 300, 5)}, 90, false));
    test::write_text(d / ("labels/val/v" + std::to_string(i) + ".txt"), "1 0.5 0.5 0.5 0.5\n");
  }
  test::write_text(d / "data.yaml", "path: .\ntrain: images/train\nval: images/val\nnames: [ball, box]\n");
  return d / "data.yaml";
}

ShardOptions options_for(const fs::path& yaml, const fs::path& out, int imgsz = 320) {
  ShardOptions options;
  options.data_yaml = yaml;
  options.out = out;
  options.imgsz = imgsz;
  options.progress = false;
  options.threads = 2;
  return options;
}

// What the reader must return for `path`: decode, then resize to long side imgsz.
RgbImage expected_pixels(const std::string& path, int imgsz) {
  RgbImage image = decode_image(read_file_bytes(path), path);
  int h = 0, w = 0;
  stored_size(image.height, image.width, imgsz, &h, &w);
  RgbImage out{h, w, std::vector<std::uint8_t>(static_cast<std::size_t>(h) * w * 3)};
  kernels::resize_bilinear_u8_cpu(out.pixels.data(), {h, w, 3}, image.pixels.data(), {image.height, image.width, 3});
  return out;
}

TEST(Shards, RoundTripMatchesDirectDecodeAndReportsEveryProblem) {
  test::TempDir dir;
  fs::path yaml = make_dataset(dir / "data");
  ShardRunReport report = build_shards(options_for(yaml, dir / "shards"));
  ASSERT_EQ(report.splits.size(), 2u);
  const SplitReport& train = report.splits[0];
  EXPECT_EQ(train.split, "train");
  EXPECT_EQ(train.listed, 11u);
  EXPECT_EQ(train.images, 8u);
  EXPECT_EQ(train.boxes, 14u);  // 7 labelled images x 2 boxes (one duplicate removed)
  EXPECT_EQ(train.missing_labels, 1u);
  EXPECT_EQ(train.duplicates_removed, 1u);
  ASSERT_EQ(train.problems.size(), 3u);
  EXPECT_EQ(train.problems[0].kind, "unknown class");
  EXPECT_NE(train.problems[0].where.find("z_badclass.txt:2"), std::string::npos);
  EXPECT_EQ(train.problems[1].kind, "unsupported image format");
  EXPECT_EQ(train.problems[2].kind, "truncated image");
  std::string problems = test::read_text(dir / "shards/problems.txt");
  EXPECT_NE(problems.find("z_page.jpg"), std::string::npos);
  std::string summary = format_shard_summary(report, 10);
  EXPECT_NE(summary.find("skipped 3 of 11 images"), std::string::npos) << summary;

  ShardSet set(dir / "shards", "train");
  ASSERT_EQ(set.size(), 8u);
  EXPECT_EQ(set.names(), (std::vector<std::string>{"ball", "box"}));
  for (std::size_t i = 0; i < set.size(); ++i) {
    Sample sample = set.read(i);
    RgbImage expected = expected_pixels(sample.info.source_path, 320);
    ASSERT_EQ(sample.info.height, expected.height) << sample.info.source_path;
    ASSERT_EQ(sample.info.width, expected.width);
    EXPECT_EQ(std::max(sample.info.height, sample.info.width), 320);
    EXPECT_EQ(sample.pixels, expected.pixels) << sample.info.source_path;
    auto labels = read_label_file(label_path_for_image(sample.info.source_path), 2);
    EXPECT_EQ(sample.boxes, labels.boxes) << sample.info.source_path;
  }
  Sample first = set.read(0);
  EXPECT_EQ(first.info.orig_height, 480);
  EXPECT_EQ(first.info.orig_width, 640);
  EXPECT_EQ(ShardSet(dir / "shards", "val").size(), 3u);
}

TEST(Shards, SeveralShardsSplitTheSamplesInOrder) {
  test::TempDir dir;
  fs::path yaml = make_dataset(dir / "data");
  ShardOptions options = options_for(yaml, dir / "shards");
  options.shards = 3;
  options.splits = {"train"};
  build_shards(options);
  ShardManifest manifest = read_manifest(dir / "shards");
  ASSERT_EQ(manifest.splits.at("train").shards.size(), 3u);
  std::size_t total = 0;
  for (const auto& shard : manifest.splits.at("train").shards) {
    EXPECT_TRUE(fs::exists(dir / "shards" / shard.file)) << shard.file;
    EXPECT_EQ(sha256_file_hex(dir / "shards" / shard.file), shard.sha256);
    total += shard.images;
  }
  EXPECT_EQ(total, 8u);
  EXPECT_EQ(manifest.splits.count("val"), 0u);
  ShardSet set(dir / "shards", "train");
  for (std::size_t i = 1; i < set.size(); ++i) EXPECT_LT(set.info(i - 1).source_path, set.info(i).source_path);
}

TEST(Shards, SameInputGivesSameBytes) {
  test::TempDir dir;
  fs::path yaml = make_dataset(dir / "data");
  build_shards(options_for(yaml, dir / "a"));
  ShardOptions second = options_for(yaml, dir / "b");
  second.threads = 1;
  build_shards(second);
  auto a = read_manifest(dir / "a"), b = read_manifest(dir / "b");
  ASSERT_EQ(a.splits.at("train").shards.size(), b.splits.at("train").shards.size());
  for (std::size_t i = 0; i < a.splits.at("train").shards.size(); ++i) {
    EXPECT_EQ(a.splits.at("train").shards[i].sha256, b.splits.at("train").shards[i].sha256);
  }
  EXPECT_EQ(a.source_fingerprint, b.source_fingerprint);
}

TEST(Shards, JpegEncodingIsSmallerAndClose) {
  test::TempDir dir;
  fs::path yaml = make_dataset(dir / "data");
  build_shards(options_for(yaml, dir / "raw"));
  ShardOptions jpeg = options_for(yaml, dir / "jpeg");
  jpeg.encoding = ShardEncoding::kJpeg;
  ShardRunReport report = build_shards(jpeg);
  EXPECT_LT(report.splits[0].stored_bytes * 2, report.splits[0].raw_bytes);
  ShardSet raw_set(dir / "raw", "train"), jpeg_set(dir / "jpeg", "train");
  ASSERT_EQ(raw_set.size(), jpeg_set.size());
  for (std::size_t i = 0; i < raw_set.size(); ++i) {
    auto a = raw_set.read(i).pixels, b = jpeg_set.read(i).pixels;
    ASSERT_EQ(a.size(), b.size());
    double diff = 0;
    for (std::size_t k = 0; k < a.size(); ++k) diff += std::abs(int(a[k]) - int(b[k]));
    EXPECT_LT(diff / static_cast<double>(a.size()), 4.0);
  }
}

TEST(Shards, ConcurrentReadsEqualSequentialReads) {
  test::TempDir dir;
  fs::path yaml = make_dataset(dir / "data");
  build_shards(options_for(yaml, dir / "shards"));
  ShardSet set(dir / "shards", "train");
  std::vector<std::vector<std::uint8_t>> sequential;
  for (std::size_t i = 0; i < set.size(); ++i) sequential.push_back(set.read(i).pixels);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (std::size_t k = 0; k < set.size(); ++k) {
          std::size_t i = (k * 3 + static_cast<std::size_t>(t + round)) % set.size();
          if (set.read(i).pixels != sequential[i]) ++mismatches;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Shards, ExistingOutputIsProtected) {
  test::TempDir dir;
  fs::path yaml = make_dataset(dir / "data");
  build_shards(options_for(yaml, dir / "shards"));
  try {
    build_shards(options_for(yaml, dir / "shards"));
    FAIL() << "expected UserError";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("--overwrite"), std::string::npos);
  }
  test::write_text(dir / "mine/notes.txt", "precious");
  ShardOptions into_user_folder = options_for(yaml, dir / "mine");
  into_user_folder.overwrite = true;
  EXPECT_THROW(build_shards(into_user_folder), UserError);
  EXPECT_EQ(test::read_text(dir / "mine/notes.txt"), "precious");
  ShardOptions overwrite = options_for(yaml, dir / "shards", 256);
  overwrite.overwrite = true;
  build_shards(overwrite);
  EXPECT_EQ(read_manifest(dir / "shards").imgsz, 256);
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
    EXPECT_EQ(entry.path().filename().string().find(".old-"), std::string::npos) << entry.path();
  }
}

TEST(Shards, FailedRunLeavesNothingBehind) {
  test::TempDir dir;
  test::write_text(dir / "data/images/train/a.jpg", "<html/>");
  test::write_text(dir / "data/data.yaml", "train: images/train\nnames: [a]\n");
  try {
    build_shards(options_for(dir / "data/data.yaml", dir / "out"));
    FAIL() << "expected UserError";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("no usable images in split 'train'"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(fs::exists(dir / "out"));
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);  // only data/
}

TEST(Shards, BadOptionsAreNamed) {
  test::TempDir dir;
  fs::path yaml = make_dataset(dir / "data");
  ShardOptions options = options_for(yaml, dir / "out", 300);
  try {
    build_shards(options);
    FAIL();
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("--imgsz 300"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("e.g. 320"), std::string::npos) << error.what();
  }
  options = options_for(yaml, dir / "out");
  options.splits = {"test"};
  EXPECT_THROW(build_shards(options), UserError);
}

TEST(Shards, SplitWithTheSameImagesSharesShards) {
  test::TempDir dir;
  make_dataset(dir / "data");
  test::write_text(dir / "data/same.yaml", "train: images/train\nval: images/train\nnames: [ball, box]\n");
  ShardRunReport report = build_shards(options_for(dir / "data/same.yaml", dir / "shards"));
  EXPECT_EQ(report.splits[1].same_as, "train");
  ShardManifest manifest = read_manifest(dir / "shards");
  EXPECT_EQ(manifest.splits.at("val").same_as, "train");
  EXPECT_EQ(manifest.splits.at("val").shards[0].file, manifest.splits.at("train").shards[0].file);
  EXPECT_EQ(ShardSet(dir / "shards", "val").size(), 8u);
}

TEST(ShardCache, SecondCallReusesAndChangedSourceRebuilds) {
  test::TempDir dir;
  fs::path yaml = make_dataset(dir / "data");
  ShardOptions options = options_for(yaml, "");
  options.splits = {"val"};
  CachedShards first = ensure_shard_cache(options, dir / "cache");
  EXPECT_TRUE(first.built);
  CachedShards second = ensure_shard_cache(options, dir / "cache");
  EXPECT_FALSE(second.built);
  EXPECT_EQ(first.dir, second.dir);
  options.imgsz = 256;
  EXPECT_NE(ensure_shard_cache(options, dir / "cache").dir, first.dir);
  options.imgsz = 320;
  test::write_text(dir / "data/labels/val/v0.txt", "0 0.5 0.5 0.5 0.5\n");  // source changed
  CachedShards changed = ensure_shard_cache(options, dir / "cache");
  EXPECT_TRUE(changed.built);
  EXPECT_NE(changed.dir, first.dir);
}

TEST(Shards, Coco128CountsMatchTheReference) {
  fs::path yaml = fs::path(SHRIKE_COCO128) / "coco128.yaml";
  if (!fs::exists(yaml)) GTEST_SKIP() << "coco128 not found at " << yaml;
  test::TempDir dir;
  ShardOptions options = options_for(yaml, dir / "coco", 320);
  ShardRunReport report = build_shards(options);
  const SplitReport& train = report.splits[0];
  EXPECT_EQ(train.images, 128u);
  EXPECT_EQ(train.boxes, 929u);
  EXPECT_EQ(train.missing_labels, 2u);
  EXPECT_EQ(train.orphans.count, 2u);
  EXPECT_EQ(train.orphans.lines, 12u);
  EXPECT_TRUE(train.problems.empty());
  EXPECT_EQ(report.splits[1].same_as, "train");
}

}  // namespace
}  // namespace shrike::data
