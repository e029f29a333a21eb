// tests/unit/test_synth.cpp
//
// `shrike synth`: determinism (same seed, same bytes whatever the thread count; another
// seed, other images), the folder layout and counts, label syntax and ranges, the
// contract on image sizes and overlaps, that boxes sit where the shapes are drawn
// (checked from the pixels, not from the renderer's geometry), and the CLI's errors.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "pipeline/core/error.h"
#include "pipeline/data/image_codec.h"
#include "pipeline/data/synth_dataset.h"
#include "pipeline/data/synth_scene.h"
#include "tests/unit/test_support.h"

namespace shrike::data {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// Relative path -> content of every regular file under `root`.
std::map<std::string, std::string> read_tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file())
      files[fs::relative(entry.path(), root).string()] = test::read_text(entry.path());
  }
  return files;
}

SynthOptions small_options(const fs::path& out, std::uint64_t seed, int classes = 4) {
  SynthOptions options;
  options.out = out;
  options.train = 12;
  options.val = 4;
  options.classes = classes;
  options.seed = seed;
  options.progress = false;
  return options;
}

std::vector<std::uint8_t> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

TEST(SynthRng, SplitMix64MatchesReferenceValues) {
  // First outputs of the reference splitmix64.c (Vigna) seeded with 0.
  std::uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(splitmix64(state), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(splitmix64(state), 0x06C45D188009454Full);
}

TEST(SynthRng, BelowAndUniformStayInRange) {
  SynthRng rng(42);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) {
    int k = rng.below(7);
    ASSERT_GE(k, 0);
    ASSERT_LT(k, 7);
    ++counts[k];
    double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(SynthDataset, SameSeedSameBytesWhateverTheThreadCount) {
  TempDir dir;
  SynthOptions one = small_options(dir / "one", 5);
  one.threads = 1;
  SynthOptions three = small_options(dir / "three", 5);
  three.threads = 3;
  write_synthetic_dataset(one);
  write_synthetic_dataset(three);
  auto a = read_tree(dir / "one"), b = read_tree(dir / "three");
  ASSERT_EQ(a.size(), 1u + 2u * 16u);  // data.yaml, 16 images, 16 label files
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, content] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(b.at(name) == content) << name << " differs between 1 and 3 threads";
  }
  // The CLI (all cores) writes the same bytes too.
  auto result = test::run_shrike(
      {"synth", "--out", (dir / "cli").string(), "--train", "12", "--val", "4", "--seed", "5"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(read_tree(dir / "cli") == a);
}

TEST(SynthDataset, DifferentSeedDifferentImages) {
  TempDir dir;
  write_synthetic_dataset(small_options(dir / "a", 1));
  write_synthetic_dataset(small_options(dir / "b", 2));
  auto a = read_tree(dir / "a"), b = read_tree(dir / "b");
  int images = 0;
  for (const auto& [name, content] : a) {
    if (name.ends_with(".jpg")) {
      ++images;
      EXPECT_NE(content, b.at(name)) << name << " is the same for seeds 1 and 2";
    }
  }
  EXPECT_EQ(images, 16);
  // train and val images are different scenes too
  EXPECT_NE(a.at("images/train/000000.jpg"), a.at("images/val/000000.jpg"));
}

TEST(SynthDataset, LayoutCountsAndDataYaml) {
  TempDir dir;
  SynthOptions options = small_options(dir / "ds", 3, 3);
  SynthSummary summary = write_synthetic_dataset(options);
  EXPECT_EQ(summary.out, dir.path() / "ds");
  ASSERT_EQ(summary.splits.size(), 2u);
  for (const auto& split : summary.splits) {
    int expected = split.name == "train" ? 12 : 4;
    EXPECT_EQ(split.images, expected) << split.name;
    std::vector<std::string> images, labels;
    for (const auto& e : fs::directory_iterator(dir / "ds" / "images" / split.name))
      images.push_back(e.path().filename());
    for (const auto& e : fs::directory_iterator(dir / "ds" / "labels" / split.name))
      labels.push_back(e.path().filename());
    std::sort(images.begin(), images.end());
    std::sort(labels.begin(), labels.end());
    ASSERT_EQ(images.size(), static_cast<std::size_t>(expected));
    ASSERT_EQ(labels.size(), images.size());
    EXPECT_EQ(images.front(), "000000.jpg");
    EXPECT_EQ(labels.back(), fmt::format("{:06}.txt", expected - 1));
  }
  std::string yaml = test::read_text(dir / "ds" / "data.yaml");
  for (const char* line : {"path: .\n", "train: images/train\n", "val: images/val\n",
                           "names:\n  - circle\n  - square\n  - triangle\n"}) {
    EXPECT_NE(yaml.find(line), std::string::npos) << "data.yaml lacks '" << line << "':\n" << yaml;
  }
  EXPECT_EQ(yaml.find("star"), std::string::npos) << "only 3 classes asked for:\n" << yaml;
  // nothing left beside it
  for (const auto& e : fs::directory_iterator(dir.path())) EXPECT_EQ(e.path().filename(), "ds");
}

// Every label line is "class cx cy w h" with class < K and the box inside the image;
// the files are exactly the labels of the scenes the seeds describe, and each JPEG
// decodes to the scene's size and (within JPEG error) its pixels.
TEST(SynthDataset, LabelsParseAndMatchTheScenes) {
  TempDir dir;
  const int classes = 5;
  write_synthetic_dataset(small_options(dir / "ds", 9, classes));
  int lines = 0;
  for (int split = 0; split < 2; ++split) {
    std::string name = split == 0 ? "train" : "val";
    for (int i = 0; i < (split == 0 ? 12 : 4); ++i) {
      std::string stem = fmt::format("{:06}", i);
      std::string text = test::read_text(dir / "ds" / "labels" / name / (stem + ".txt"));
      std::istringstream in(text);
      std::string line;
      while (std::getline(in, line)) {
        ++lines;
        std::istringstream fields(line);
        int k = -1;
        double cx, cy, w, h;
        std::string extra;
        ASSERT_TRUE(fields >> k >> cx >> cy >> w >> h) << name << "/" << stem << ": '" << line << "'";
        EXPECT_FALSE(fields >> extra) << line;
        EXPECT_GE(k, 0);
        EXPECT_LT(k, classes);
        EXPECT_GT(w, 0);
        EXPECT_GT(h, 0);
        EXPECT_GE(cx - w / 2, -1e-6) << line;
        EXPECT_GE(cy - h / 2, -1e-6) << line;
        EXPECT_LE(cx + w / 2, 1 + 1e-6) << line;
        EXPECT_LE(cy + h / 2, 1 + 1e-6) << line;
      }
      SynthScene scene = render_synthetic_scene(synth_image_seed(9, split, i), classes);
      EXPECT_EQ(text, format_yolo_labels(scene)) << name << "/" << stem;
      auto jpeg = bytes_of(test::read_text(dir / "ds" / "images" / name / (stem + ".jpg")));
      RgbImage decoded = decode_image(jpeg, stem + ".jpg");
      ASSERT_EQ(decoded.width, scene.image.width);
      ASSERT_EQ(decoded.height, scene.image.height);
      double diff = 0;
      for (std::size_t p = 0; p < decoded.pixels.size(); ++p)
        diff += std::abs(int(decoded.pixels[p]) - int(scene.image.pixels[p]));
      EXPECT_LT(diff / decoded.pixels.size(), 8.0) << name << "/" << stem;
    }
  }
  EXPECT_GT(lines, 16);  // 0..8 objects per image, ~4.5 on average
}

double iou(const SynthObject& a, const SynthObject& b) {
  double w = std::min(a.x1, b.x1) - std::max(a.x0, b.x0), h = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
  if (w <= 0 || h <= 0) return 0;
  double inter = w * h;
  return inter / ((a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter);
}

TEST(SynthScene, SizesCountsAndOverlapsFollowTheContract) {
  std::map<int, int> per_class;
  for (std::uint64_t s = 0; s < 40; ++s) {
    SynthScene scene = render_synthetic_scene(synth_image_seed(11, 0, s), 8);
    int w = scene.image.width, h = scene.image.height;
    EXPECT_GE(std::min(w, h), kSynthMinSide);
    EXPECT_LE(std::max(w, h), kSynthMaxSide);
    EXPECT_LE(std::max(w, h), 2 * std::min(w, h) + 1);
    ASSERT_EQ(scene.image.pixels.size(), static_cast<std::size_t>(w) * h * 3);
    EXPECT_LE(scene.objects.size(), 8u);
    for (std::size_t i = 0; i < scene.objects.size(); ++i) {
      const auto& o = scene.objects[i];
      ++per_class[o.class_id];
      EXPECT_GE(o.x0, 0);
      EXPECT_GE(o.y0, 0);
      EXPECT_LE(o.x1, w);
      EXPECT_LE(o.y1, h);
      double longer = std::max(o.x1 - o.x0, o.y1 - o.y0);
      EXPECT_GE(longer, 0.035 * std::min(w, h));  // 5% diameter, box of a square >= 0.707 d
      EXPECT_LE(longer, 0.46 * std::min(w, h));
      for (std::size_t j = 0; j < i; ++j) EXPECT_LE(iou(o, scene.objects[j]), kSynthMaxIou + 1e-9);
    }
  }
  EXPECT_EQ(per_class.size(), 8u) << "40 scenes should show every class";
}

TEST(SynthScene, RejectsClassCountsOutOfRange) {
  EXPECT_THROW(render_synthetic_scene(1, 0), UserError);
  EXPECT_THROW(render_synthetic_scene(1, 9), UserError);
}

bool near_colour(const std::uint8_t* p, const std::array<std::uint8_t, 3>& rgb, int tolerance) {
  for (int c = 0; c < 3; ++c)
    if (std::abs(int(p[c]) - int(rgb[c])) > tolerance) return false;
  return true;
}

bool overlaps(const SynthObject& o, double x0, double y0, double x1, double y1) {
  return o.x0 < x1 && x0 < o.x1 && o.y0 < y1 && y0 < o.y1;
}

// The colour at a shape's centre is its fill colour, unless a later shape covers it.
TEST(SynthScene, ShapeCentreHasTheObjectColour) {
  int checked = 0;
  for (std::uint64_t s = 0; s < 30; ++s) {
    SynthScene scene = render_synthetic_scene(synth_image_seed(21, 0, s), 8);
    const RgbImage& im = scene.image;
    for (std::size_t i = 0; i < scene.objects.size(); ++i) {
      const auto& o = scene.objects[i];
      if (kSynthClassNames[o.class_id] == "ring") continue;  // a ring's centre is a hole
      int x = static_cast<int>(o.cx), y = static_cast<int>(o.cy);
      bool covered = false;
      for (std::size_t j = i + 1; j < scene.objects.size(); ++j)
        covered |= overlaps(scene.objects[j], x - 2, y - 2, x + 3, y + 3);
      if (covered) continue;
      double mean[3] = {0, 0, 0};
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx)
          for (int c = 0; c < 3; ++c)
            mean[c] += im.pixels[((std::size_t)(y + dy) * im.width + x + dx) * 3 + c] / 9.0;
      for (int c = 0; c < 3; ++c) EXPECT_NEAR(mean[c], o.rgb[c], 12) << "scene " << s << " object " << i;
      ++checked;
    }
  }
  EXPECT_GT(checked, 50);
}

// For shapes with no other box nearby: pixels of the shape's colour fill a good part of
// the box, reach every edge of it (tight box), and do not appear just outside it.
TEST(SynthScene, BoxesAreTightAroundTheDrawnShapes) {
  const int tolerance = 45;  // shading (+-12%) and noise
  int checked = 0;
  for (std::uint64_t s = 0; s < 40; ++s) {
    SynthScene scene = render_synthetic_scene(synth_image_seed(33, 1, s), 8);
    const RgbImage& im = scene.image;
    auto is_object = [&](int x, int y, const SynthObject& o) {
      return near_colour(&im.pixels[((std::size_t)y * im.width + x) * 3], o.rgb, tolerance);
    };
    for (std::size_t i = 0; i < scene.objects.size(); ++i) {
      const auto& o = scene.objects[i];
      if (std::min(o.x1 - o.x0, o.y1 - o.y0) < 20) continue;
      bool alone = true;
      for (std::size_t j = 0; j < scene.objects.size(); ++j)
        alone &= j == i || !overlaps(scene.objects[j], o.x0 - 5, o.y0 - 5, o.x1 + 5, o.y1 + 5);
      if (!alone) continue;
      int x0 = static_cast<int>(std::floor(o.x0)), x1 = static_cast<int>(std::ceil(o.x1));
      int y0 = static_cast<int>(std::floor(o.y0)), y1 = static_cast<int>(std::ceil(o.y1));
      int inside = 0, inside_hits = 0, band = 0, band_hits = 0;
      bool edge[4] = {false, false, false, false};  // left, right, top, bottom
      for (int y = std::max(0, y0 - 4); y < std::min(im.height, y1 + 4); ++y) {
        for (int x = std::max(0, x0 - 4); x < std::min(im.width, x1 + 4); ++x) {
          bool hit = is_object(x, y, o);
          if (x >= x0 && x < x1 && y >= y0 && y < y1) {
            ++inside;
            inside_hits += hit;
            edge[0] |= hit && x < x0 + 3;
            edge[1] |= hit && x >= x1 - 3;
            edge[2] |= hit && y < y0 + 3;
            edge[3] |= hit && y >= y1 - 3;
          } else if (x < x0 - 1 || x > x1 || y < y0 - 1 || y > y1) {  // 1 px of anti-aliasing
            ++band;
            band_hits += hit;
          }
        }
      }
      bool ok =
          inside_hits > 0.15 * inside && band_hits <= 0.05 * band && edge[0] && edge[1] && edge[2] && edge[3];
      ++checked;
      if (!ok) {
        ADD_FAILURE() << "scene " << s << " object " << i << " (" << kSynthClassNames[o.class_id]
                      << "): inside " << inside_hits << "/" << inside << ", outside " << band_hits << "/"
                      << band << ", edges " << edge[0] << edge[1] << edge[2] << edge[3];
      }
    }
  }
  EXPECT_GT(checked, 20);
}

TEST(SynthCli, RefusesANonEmptyOutputFolder) {
  TempDir dir;
  test::write_text(dir / "busy" / "keep.txt", "mine");
  auto result = test::run_shrike({"synth", "--out", (dir / "busy").string(), "--train", "2", "--val", "1"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find((dir / "busy").string()), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("--overwrite"), std::string::npos) << result.output;
  EXPECT_EQ(test::read_text(dir / "busy" / "keep.txt"), "mine");
  for (const auto& e : fs::directory_iterator(dir.path())) EXPECT_EQ(e.path().filename(), "busy");
}

TEST(SynthCli, OverwriteReplacesTheFolderAndAnEmptyFolderIsFine) {
  TempDir dir;
  test::write_text(dir / "busy" / "keep.txt", "old");
  auto result = test::run_shrike(
      {"synth", "--out", (dir / "busy").string(), "--train", "2", "--val", "1", "--overwrite"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_FALSE(fs::exists(dir / "busy" / "keep.txt"));
  EXPECT_TRUE(fs::exists(dir / "busy" / "images" / "val" / "000000.jpg"));
  EXPECT_NE(result.output.find("train 2 images"), std::string::npos) << result.output;
  fs::create_directories(dir / "empty");
  result = test::run_shrike({"synth", "--out", (dir / "empty").string(), "--train", "1", "--val", "0"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(fs::exists(dir / "empty" / "labels" / "train" / "000000.txt"));
  EXPECT_TRUE(fs::is_empty(dir / "empty" / "images" / "val"));
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path())) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"busy", "empty"}));
}

TEST(SynthCli, RejectsClassCountsOutOfRange) {
  TempDir dir;
  for (const char* classes : {"0", "9"}) {
    auto result = test::run_shrike({"synth", "--out", (dir / "x").string(), "--classes", classes});
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("--classes"), std::string::npos) << result.output;
    EXPECT_FALSE(fs::exists(dir / "x"));
  }
  auto result = test::run_shrike({"synth", "--out", (dir / "x").string(), "--seed", "-3"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  result = test::run_shrike({"synth", "--train", "3"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("--out"), std::string::npos) << result.output;
}

TEST(SynthCli, HelpExplainsAndExitsZero) {
  auto result = test::run_shrike({"synth", "--help"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  for (const char* text : {"usage: shrike synth", "--classes", "--seed", "data.yaml", "Examples"})
    EXPECT_NE(result.output.find(text), std::string::npos) << text << " missing from:\n" << result.output;
}

}  // namespace
}  // namespace shrike::data
