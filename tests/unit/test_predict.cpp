// tests/unit/test_predict.cpp: prediction (pipeline/train/predictor.h), annotated
// images (box_drawing.h) and `shrike predict`. The letterbox geometry is checked by a
// drawn box that must map back to where it was drawn; the predictor's boxes against the
// validator's path (shards, ValLoader, decode, NMS, mapping) on the same image and
// weights; the CLI end to end on a folder with problems in it. Weights: the committed
// reference fixture (nc 4, random weights: the boxes are arbitrary, so a low conf is
// used where detections are needed; format and geometry are what is tested).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/detect_decode.h"
#include "kernels/nms.h"
#include "pipeline/data/batch_loader.h"
#include "pipeline/data/image_codec.h"
#include "pipeline/data/shard_build.h"
#include "pipeline/data/shard_reader.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/model/modules.h"
#include "pipeline/train/box_drawing.h"
#include "pipeline/train/predictor.h"
#include "tests/unit/test_support.h"

namespace shrike {
namespace {

namespace fs = std::filesystem;
using data::RgbImage;

const char* kWeights = "yolov8n_s128_b3.weights.h5";  // nc 4, imgsz 128

// A black (height, width) image with the rectangle [x1, x2) x [y1, y2) in red.
RgbImage image_with_box(int height, int width, int x1, int y1, int x2, int y2) {
  RgbImage image{height, width, std::vector<std::uint8_t>(static_cast<std::size_t>(height) * width * 3, 0)};
  for (int y = y1; y < y2; ++y) {
    for (int x = x1; x < x2; ++x) image.pixels[(static_cast<std::size_t>(y) * width + x) * 3] = 255;
  }
  return image;
}

// The extent [x1, x2) x [y1, y2) of the pixels whose red is above one half and green
// below, in a (1, 3, H, W) input; the box xyxy in input pixels.
std::array<float, 4> red_extent(const train::PredictionInput& input) {
  const int h = input.shape.h, w = input.shape.w;
  const std::size_t plane = static_cast<std::size_t>(h) * w;
  int x1 = w, y1 = h, x2 = -1, y2 = -1;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const std::size_t i = static_cast<std::size_t>(y) * w + x;
      if (input.images[i] > 0.5f && input.images[plane + i] < 0.2f) {
        x1 = std::min(x1, x), y1 = std::min(y1, y), x2 = std::max(x2, x), y2 = std::max(y2, y);
      }
    }
  }
  return {static_cast<float>(x1), static_cast<float>(y1), static_cast<float>(x2 + 1), static_cast<float>(y2 + 1)};
}

TEST(PredictLetterbox, MinimalStrideRectangleAsTheReference) {
  // 67 x 101 (h x w) at 128: r = 128/101, resized 85 x 128, padding mod(43, 32) = 11 -> 5 top, 6 bottom.
  kernels::LetterboxGeometry g = train::prediction_letterbox(67, 101, 128, 32);
  EXPECT_EQ(g.resized_w, 128);
  EXPECT_EQ(g.resized_h, 85);
  EXPECT_EQ(g.top, 5);
  EXPECT_EQ(g.bottom, 6);
  EXPECT_EQ(g.left, 0);
  EXPECT_EQ(g.out_h, 96);
  EXPECT_EQ(g.out_w, 128);
  for (auto [h, w] : {std::pair{480, 640}, {640, 480}, {1, 1}, {300, 224}, {33, 1000}, {999, 7}}) {
    g = train::prediction_letterbox(h, w, 320, 32);
    EXPECT_EQ(g.out_h % 32, 0) << h << "x" << w;
    EXPECT_EQ(g.out_w % 32, 0) << h << "x" << w;
    EXPECT_EQ(std::max(g.out_h, g.out_w), 320) << h << "x" << w;
    EXPECT_LT(g.out_h - g.resized_h, 32) << h << "x" << w;  // minimal padding
    EXPECT_LT(g.out_w - g.resized_w, 32) << h << "x" << w;
  }
}

TEST(PredictLetterbox, ImgszRoundsUpToTheStrideWithAWarning) {
  std::string warning;
  EXPECT_EQ(train::imgsz_for_stride(100, 32, [&](const std::string& w) { warning = w; }), 128);
  EXPECT_NE(warning.find("imgsz=128"), std::string::npos) << warning;
  warning.clear();
  EXPECT_EQ(train::imgsz_for_stride(640, 32, [&](const std::string& w) { warning = w; }), 640);
  EXPECT_TRUE(warning.empty());
}

TEST(PredictLetterbox, DrawnBoxInOddSizedImageMapsBackExactly) {
  // Long side = imgsz: only padding (67 -> 96 rows, 14 on top), so the box must come back exactly.
  const RgbImage image = image_with_box(67, 128, 21, 9, 52, 40);
  const kernels::LetterboxGeometry g = train::prediction_letterbox(67, 128, 128, 32);
  const train::PredictionInput input = train::prepare_prediction_input(image, g);
  ASSERT_EQ(input.shape.h, 96);
  ASSERT_EQ(input.shape.w, 128);
  std::array<float, 4> box = red_extent(input);
  EXPECT_EQ(box[1], 9.0f + g.top);
  train::scale_box_to_original(box.data(), train::letterbox_mapping_for(g.out_w, g.out_h, 128, 67));
  EXPECT_EQ(box, (std::array<float, 4>{21, 9, 52, 40}));
}

TEST(PredictLetterbox, DrawnBoxInResizedImageMapsBackWithinAPixel) {
  for (int imgsz : {64, 256}) {  // down- and up-scaled
    const RgbImage image = image_with_box(67, 101, 31, 17, 70, 50);
    const kernels::LetterboxGeometry g = train::prediction_letterbox(67, 101, imgsz, 32);
    const train::PredictionInput input = train::prepare_prediction_input(image, g);
    std::array<float, 4> box = red_extent(input);
    const train::LetterboxMapping mapping = train::letterbox_mapping_for(g.out_w, g.out_h, 101, 67);
    train::scale_box_to_original(box.data(), mapping);
    const std::array<float, 4> drawn{31, 17, 70, 50};
    const float tolerance = 1.0f / static_cast<float>(mapping.gain) + 1.0f;  // one input pixel of bilinear blur
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(box[k], drawn[k], tolerance) << "imgsz " << imgsz << " coord " << k;
    // The arithmetic itself is exact: original -> input -> original.
    std::array<float, 4> there{};
    for (int k = 0; k < 4; ++k) there[k] = drawn[k] * mapping.gain + (k % 2 == 0 ? mapping.pad_x : mapping.pad_y);
    train::scale_box_to_original(there.data(), mapping);
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(there[k], drawn[k], 1e-4f) << "imgsz " << imgsz;
  }
}

// The validator's path (pipeline/train/validator.cpp) on batch 0 of `loader`: eval
// forward, decode, NMS, ratio_pad mapping. Written out here because run_validation only
// returns metrics.
std::vector<kernels::Detection> validator_detections(model::Model& model, const data::ValBatch& batch,
                                                     const kernels::NmsConfig& nms) {
  model::Graph& graph = model.graph(batch.shape, model::GraphStorage::kInference);
  graph.forward(batch.images.data(), model::Mode::kEval);
  std::vector<kernels::HeadLevel<float>> levels;
  for (std::size_t l = 0; l < graph.outputs().size(); ++l) {
    const kernels::Shape4 s = graph.shape(graph.outputs()[l]);
    levels.push_back({graph.value(graph.outputs()[l]), s.h, s.w, model.strides()[l]});
  }
  const std::size_t anchors = kernels::detect_anchor_count<float>(levels);
  std::vector<float> decoded(anchors * (4 + model.nc()));
  kernels::detect_decode_cpu<float>(levels, 1, model.nc(), model::kRegMax, decoded.data());
  auto detections = kernels::non_max_suppression_cpu(decoded.data(), 1, static_cast<int>(anchors), model.nc(), nms);
  const data::ValImageInfo& info = batch.images_info[0];
  train::LetterboxMapping mapping;
  mapping.gain = static_cast<float>(info.ratio_w);
  mapping.pad_x = static_cast<float>(info.pad_left), mapping.pad_y = static_cast<float>(info.pad_top);
  mapping.original_width = info.orig_width, mapping.original_height = info.orig_height;
  train::scale_to_original(detections[0], mapping);
  return detections[0];
}

TEST(Predictor, SameBoxesAsTheValidatorOnTheSameImageAndWeights) {
  test::TempDir dir;
  // One 80 x 128 image (long side = imgsz, so the shard stores it unresized) and a label.
  const fs::path image_path = dir / "data/images/val/scene.png";
  test::write_bytes(image_path, test::encode_png(test::pattern_rgb(80, 128, 3), 80, 128, 3));
  test::write_text(dir / "data/labels/val/scene.txt", "1 0.5 0.5 0.3 0.4\n");
  test::write_text(dir / "data/data.yaml", "path: .\ntrain: images/val\nval: images/val\nnames: [a, b, c, d]\n");
  data::ShardOptions shard;
  shard.data_yaml = dir / "data/data.yaml";
  shard.out = dir / "shards";
  shard.imgsz = 128;
  shard.progress = false;
  shard.threads = 1;
  data::build_shards(shard);
  data::ShardSet set(dir / "shards", "val");
  data::ValLoader loader(set, 128, 1, 32, 1);
  const data::ValBatch batch = loader.load(0);

  model::LoadedModel loaded = model::load_model(test::fixture_path(kWeights).string());
  train::PredictSettings settings;
  settings.conf = 0.001f;  // random weights: low scores
  settings.imgsz = 128;
  kernels::NmsConfig nms;
  nms.conf_thres = settings.conf;
  const std::vector<kernels::Detection> expected = validator_detections(*loaded.model, batch, nms);
  ASSERT_FALSE(expected.empty());

  const RgbImage image = data::decode_image(data::read_file_bytes(image_path.string()), image_path.string());
  const kernels::LetterboxGeometry g = kernels::letterbox_geometry(80, 128, batch.shape.h, batch.shape.w, false);
  EXPECT_EQ(train::prepare_prediction_input(image, g).images, batch.images);
  train::LetterboxMapping mapping;
  mapping.gain = static_cast<float>(batch.images_info[0].ratio_w);
  mapping.pad_x = static_cast<float>(g.left), mapping.pad_y = static_cast<float>(g.top);
  mapping.original_width = 128, mapping.original_height = 80;
  const train::ImagePrediction got =
      train::predict_letterboxed(*loaded.model, loaded.weights->names, image, g, mapping, settings);
  ASSERT_EQ(got.detections.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const train::NamedDetection& d = got.detections[i];
    EXPECT_EQ(d.cls, expected[i].cls) << i;
    EXPECT_EQ(d.name, loaded.weights->names[static_cast<std::size_t>(d.cls)]);
    EXPECT_FLOAT_EQ(d.score, expected[i].score) << i;
    EXPECT_FLOAT_EQ(d.x1, expected[i].x1) << i;
    EXPECT_FLOAT_EQ(d.y1, expected[i].y1) << i;
    EXPECT_FLOAT_EQ(d.x2, expected[i].x2) << i;
    EXPECT_FLOAT_EQ(d.y2, expected[i].y2) << i;
  }

  // The reference's own (minimal) letterbox: boxes inside the original image, NMS order.
  const train::ImagePrediction own = train::predict_image(*loaded.model, loaded.weights->names, image, settings);
  const train::ImagePrediction from_file =
      train::predict_file(*loaded.model, loaded.weights->names, image_path.string(), settings);
  ASSERT_EQ(from_file.detections.size(), own.detections.size());
  for (std::size_t i = 0; i < own.detections.size(); ++i) EXPECT_EQ(from_file.detections[i].x1, own.detections[i].x1);
  EXPECT_EQ(own.width, 128);
  EXPECT_EQ(own.height, 80);
  ASSERT_FALSE(own.detections.empty());
  for (std::size_t i = 0; i < own.detections.size(); ++i) {
    const train::NamedDetection& d = own.detections[i];
    EXPECT_TRUE(d.x1 >= 0 && d.x1 <= d.x2 && d.x2 <= 128 && d.y1 >= 0 && d.y1 <= d.y2 && d.y2 <= 80) << i;
    if (i > 0) {
      EXPECT_LE(d.score, own.detections[i - 1].score);
    }
  }
}

TEST(BoxDrawing, RectangleInClassColourAndLabelBand) {
  RgbImage image{100, 120, std::vector<std::uint8_t>(100 * 120 * 3, 128)};
  const train::NamedDetection d{30, 40, 90, 80, 0.87f, 2, "cat"};
  train::draw_detections(image, std::span(&d, 1));
  auto pixel = [&](int x, int y) {
    const std::uint8_t* p = &image.pixels[(static_cast<std::size_t>(y) * 120 + x) * 3];
    return train::Rgb{p[0], p[1], p[2]};
  };
  const train::Rgb colour = train::class_colour(2);
  EXPECT_EQ(colour, (train::Rgb{0xF3, 0xF3, 0xF3}));        // the reference palette's third colour
  EXPECT_EQ(pixel(60, 80), colour);                         // bottom edge
  EXPECT_EQ(pixel(90, 60), colour);                         // right edge
  EXPECT_EQ(pixel(60, 60), (train::Rgb{128, 128, 128}));    // inside untouched
  // The band sits above the box: 7 + 2 rows of scale 1; its text ("cat 0.87") in black on the light colour.
  const int band_top = 40 - (train::kGlyphHeight + 2);
  EXPECT_EQ(pixel(30, band_top), colour);
  int dark = 0;
  for (int y = band_top; y < 40; ++y) {
    for (int x = 30; x < 30 + train::text_width("cat 0.87", 1) + 2; ++x) dark += pixel(x, y) == train::Rgb{0, 0, 0};
  }
  EXPECT_GT(dark, 20);
  EXPECT_EQ(pixel(30, band_top - 1), (train::Rgb{128, 128, 128}));
  EXPECT_EQ(train::text_width("ab", 2), (2 * 6 - 1) * 2);
  EXPECT_EQ(train::annotation_line_width(1080, 1920), 4);
  EXPECT_EQ(train::annotation_line_width(64, 64), 2);
}

// The folder every CLI test predicts: a nested subfolder, a PNG, a non-image file, a
// corrupt JPEG and a text file with a .jpg name.
fs::path make_source_folder(const fs::path& root) {
  const fs::path src = root / "src";
  test::write_bytes(src / "a.jpg", data::encode_jpeg(RgbImage{90, 120, test::pattern_rgb(90, 120, 1)}, 90, false));
  test::write_bytes(src / "sub/b.png", test::encode_png(test::pattern_rgb(51, 75, 2), 51, 75, 3));
  auto corrupt = data::encode_jpeg(RgbImage{64, 64, test::pattern_rgb(64, 64, 3)}, 90, false);
  corrupt.resize(corrupt.size() / 3);
  test::write_bytes(src / "sub/corrupt.jpg", corrupt);
  test::write_text(src / "notes.txt", "not an image\n");
  test::write_text(src / "page.jpg", "<html>not found</html>");
  return src;
}

std::vector<nlohmann::json> read_json_lines(const fs::path& path) {
  std::vector<nlohmann::json> lines;
  std::istringstream text(test::read_text(path));
  for (std::string line; std::getline(text, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST(PredictCli, FolderWithProblemsGivesJsonLinesAndAnnotatedImages) {
  test::TempDir dir;
  const fs::path src = make_source_folder(dir.path());
  const fs::path out = dir / "out";
  const test::CommandResult result = test::run_shrike({"predict", test::fixture_path(kWeights).string(), src.string(),
                                                       "--conf", "0.001", "--out", out.string(), "--save-images"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  for (const char* name : {"notes.txt", "corrupt.jpg", "page.jpg"}) {
    EXPECT_NE(result.output.find(name), std::string::npos) << name << "\n" << result.output;
  }
  EXPECT_NE(result.output.find("skipped 3 of 5 files"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("predicted 2 images"), std::string::npos) << result.output;

  const std::vector<nlohmann::json> lines = read_json_lines(out / "predictions.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["image"], (src / "a.jpg").string());  // sorted, recursive
  EXPECT_EQ(lines[1]["image"], (src / "sub/b.png").string());
  const std::pair<int, int> sizes[] = {{120, 90}, {75, 51}};
  for (std::size_t i = 0; i < 2; ++i) {
    const nlohmann::json& line = lines[i];
    EXPECT_EQ(line["width"], sizes[i].first);
    EXPECT_EQ(line["height"], sizes[i].second);
    ASSERT_TRUE(line["detections"].is_array());
    EXPECT_FALSE(line["detections"].empty());
    for (const nlohmann::json& d : line["detections"]) {
      const int cls = d["class"];
      EXPECT_TRUE(cls >= 0 && cls < 4);
      EXPECT_EQ(d["name"], "class" + std::to_string(cls));
      EXPECT_GE(d["score"].get<double>(), 0.001);
      const std::vector<double> box = d["box"];
      ASSERT_EQ(box.size(), 4u);
      EXPECT_TRUE(box[0] >= 0 && box[0] <= box[2] && box[2] <= sizes[i].first) << d.dump();
      EXPECT_TRUE(box[1] >= 0 && box[1] <= box[3] && box[3] <= sizes[i].second) << d.dump();
    }
    // The annotated copy: one JPEG per image, the original size.
    const std::string annotated = line["annotated"];
    const RgbImage decoded = data::decode_image(data::read_file_bytes(annotated), annotated);
    EXPECT_EQ(decoded.width, sizes[i].first);
    EXPECT_EQ(decoded.height, sizes[i].second);
  }
  EXPECT_EQ(lines[0]["annotated"], (out / "a.jpg").string());
  EXPECT_EQ(lines[1]["annotated"], (out / "sub/b.jpg").string());
  int jpegs = 0;
  for (const auto& entry : fs::recursive_directory_iterator(out)) jpegs += entry.path().extension() == ".jpg";
  EXPECT_EQ(jpegs, 2);
}

TEST(PredictCli, PrintsJsonLinesToStdoutWithoutOut) {
  test::TempDir dir;
  const fs::path src = make_source_folder(dir.path());
  const test::CommandResult result =
      test::run_shrike({"predict", test::fixture_path(kWeights).string(), (src / "sub/b.png").string()});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  std::istringstream text(result.output);
  int lines = 0;
  for (std::string line; std::getline(text, line);) {
    if (line.empty() || line[0] != '{') continue;
    const nlohmann::json parsed = nlohmann::json::parse(line);
    EXPECT_EQ(parsed["width"], 75);
    EXPECT_TRUE(parsed["detections"].is_array());  // conf 0.25 on random weights: likely empty
    ++lines;
  }
  EXPECT_EQ(lines, 1);
}

TEST(PredictCli, MissingWeightsOrNoImagesExitOne) {
  test::TempDir dir;
  const fs::path src = make_source_folder(dir.path());
  const std::string missing = (dir / "nope/best.h5").string();
  test::CommandResult result = test::run_shrike({"predict", missing, src.string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find(missing), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("does not exist"), std::string::npos) << result.output;

  result = test::run_shrike({"predict", test::fixture_path(kWeights).string(), (src / "page.jpg").string(),
                             (src / "sub/corrupt.jpg").string(), (dir / "absent.jpg").string()});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("no image could be predicted"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("absent.jpg: does not exist"), std::string::npos) << result.output;
}

TEST(PredictCli, SaveImagesNeverOverwritesASource) {
  test::TempDir dir;
  const fs::path src = make_source_folder(dir.path());
  const std::string before = test::read_text(src / "a.jpg");
  const test::CommandResult result = test::run_shrike(
      {"predict", test::fixture_path(kWeights).string(), src.string(), "--out", src.string(), "--save-images"});
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find("overwrite"), std::string::npos) << result.output;
  EXPECT_EQ(test::read_text(src / "a.jpg"), before);
}

TEST(PredictCli, HelpHasExamples) {
  const test::CommandResult result = test::run_shrike({"predict", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.output.find("Examples:"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("--save-images"), std::string::npos);
}

}  // namespace
}  // namespace shrike
