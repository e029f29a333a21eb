// pipeline/cli/cmd_predict.cpp: `shrike predict WEIGHTS SOURCE... [options]`: detections
// of a trained model on image files and folders (pipeline/train/predictor.h), one JSON
// line per image to stdout or DIR/predictions.jsonl, optionally annotated JPEGs
// (pipeline/train/box_drawing.h). Files that cannot be predicted are listed and skipped.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/core/interrupt.h"
#include "pipeline/data/dataset_listing.h"
#include "pipeline/data/sample_problem.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/train/box_drawing.h"
#include "pipeline/train/predictor.h"

namespace shrike::cli {

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kSkippedShown = 20;

CommandSpec predict_spec() {
  CommandSpec spec;
  spec.name = "predict";
  spec.usage = "shrike predict WEIGHTS SOURCE... [options]";
  spec.description =
      "Detect objects with a trained weights or checkpoint file (a checkpoint's EMA weights)\n"
      "as the reference's `yolo predict` does: each image turned upright (EXIF), its long side\n"
      "resized to imgsz and padded to a multiple of 32, NMS, boxes in original pixels.\n"
      "SOURCE is an image file or a folder (searched recursively, in sorted order). Prints one\n"
      "JSON line per image: {\"image\", \"width\", \"height\", \"detections\": [{\"class\", \"name\",\n"
      "\"score\", \"box\": [x1, y1, x2, y2]}]}. Files that are not images or cannot be decoded are\n"
      "listed with the reason and skipped; the exit code is 0 when at least one image was\n"
      "predicted, 1 when none was.";
  spec.options.add_options()
      ("weights", po::value<std::string>()->required()->value_name("WEIGHTS"), "weights or checkpoint file (positional)")
      ("source", po::value<std::vector<std::string>>()->required()->value_name("SOURCE"),
       "image files or folders (positional, one or more)")
      ("conf", po::value<float>()->default_value(0.25f, "0.25")->value_name("C"), "minimum class score of a detection")
      ("iou", po::value<double>()->default_value(0.7, "0.7")->value_name("I"), "NMS IoU threshold")
      ("imgsz", po::value<int>()->value_name("S"), "long side of the network input (default: the weights' imgsz)")
      ("max-det", po::value<int>()->default_value(300)->value_name("N"), "most detections per image")
      ("out,o", po::value<std::string>()->value_name("DIR"),
       "write DIR/predictions.jsonl instead of printing the lines (and the images of --save-images)")
      ("save-images", po::bool_switch(), "also write annotated JPEGs into --out, named as the sources");
  spec.positional.add("weights", 1).add("source", -1);
  spec.epilog =
      "Examples:\n"
      "  shrike predict runs/detect/exp/weights/best.h5 bus.jpg\n"
      "  shrike predict best.h5 photos/ --conf 0.4 --out predictions --save-images\n"
      "  shrike predict last_checkpoint.h5 a.jpg b.png --imgsz 320 > detections.jsonl";
  return spec;
}

struct PredictOptions {
  std::string weights;
  std::vector<std::string> sources;
  train::PredictSettings settings;
  std::optional<int> imgsz;
  std::optional<fs::path> out;
  bool save_images = false;
};

PredictOptions options_from(const po::variables_map& values) {
  PredictOptions o;
  o.weights = values["weights"].as<std::string>();
  o.sources = values["source"].as<std::vector<std::string>>();
  o.settings.conf = values["conf"].as<float>();
  o.settings.iou = values["iou"].as<double>();
  o.settings.max_det = values["max-det"].as<int>();
  if (values.count("imgsz")) o.imgsz = values["imgsz"].as<int>();
  if (values.count("out")) o.out = values["out"].as<std::string>();
  o.save_images = values["save-images"].as<bool>();
  if (o.settings.conf < 0 || o.settings.conf > 1) fail_user("--conf {} must be in [0, 1]", o.settings.conf);
  if (o.settings.iou < 0 || o.settings.iou > 1) fail_user("--iou {} must be in [0, 1]", o.settings.iou);
  if (o.settings.max_det < 1) fail_user("--max-det {} must be at least 1", o.settings.max_det);
  if (o.imgsz && *o.imgsz < 1) fail_user("--imgsz {} must be positive", *o.imgsz);
  if (o.save_images && !o.out) fail_user("--save-images needs --out DIR (the folder for the annotated images)");
  return o;
}

// An image to predict and the name its annotated copy gets under --out.
struct SourceImage {
  fs::path path;
  fs::path annotated_name;  // relative: the path inside its SOURCE folder (or the file name), as .jpg
};

struct SkippedFile {
  std::string path;
  std::string reason;
};

// Every regular file under `folder`, sorted by path.
std::vector<fs::path> files_under(const fs::path& folder) {
  std::vector<fs::path> files;
  std::error_code error;
  for (fs::recursive_directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    if (it->is_regular_file(error)) files.push_back(it->path());
  }
  if (error) fail_user("cannot list folder {}: {}", folder.string(), error.message());
  std::sort(files.begin(), files.end());
  return files;
}

// The SOURCE arguments expanded: files as given, folders recursively (files without an
// image extension are skipped with a reason, never silently).
std::vector<SourceImage> list_sources(const std::vector<std::string>& sources, std::vector<SkippedFile>& skipped) {
  std::vector<SourceImage> images;
  for (const std::string& source : sources) {
    std::error_code error;
    const fs::file_status status = fs::status(source, error);
    if (fs::is_directory(status)) {
      for (const fs::path& file : files_under(source)) {
        if (!data::has_image_extension(file)) {
          skipped.push_back({file.string(), fmt::format("not an image file (extension '{}')", file.extension().string())});
          continue;
        }
        images.push_back({file, file.lexically_relative(source)});
      }
    } else if (fs::exists(status)) {
      images.push_back({source, fs::path(source).filename()});
    } else {
      skipped.push_back({source, "does not exist"});
    }
  }
  return images;
}

// Gives each image its annotated JPEG's path under `out`: the mirrored name with the
// extension .jpg, "_2", "_3"... when two sources would share one; refuses a path that
// is one of the sources.
std::vector<fs::path> annotated_paths(const std::vector<SourceImage>& images, const fs::path& out) {
  std::set<fs::path> sources, used;
  for (const SourceImage& image : images) sources.insert(fs::weakly_canonical(image.path));
  std::vector<fs::path> paths;
  for (const SourceImage& image : images) {
    fs::path name = image.annotated_name;
    name.replace_extension(".jpg");
    fs::path path = out / name;
    for (int n = 2; used.count(fs::weakly_canonical(path)); ++n) {
      path = out / name.parent_path() / fmt::format("{}_{}.jpg", name.stem().string(), n);
    }
    const fs::path canonical = fs::weakly_canonical(path);
    if (sources.count(canonical)) {
      fail_user("--save-images would overwrite the source image {} (--out {} holds the sources); choose another --out",
                image.path.string(), out.string());
    }
    used.insert(canonical);
    paths.push_back(path);
  }
  return paths;
}

// Keys in the documented order (ordered_json keeps insertion order).
nlohmann::ordered_json prediction_json(const std::string& image, const train::ImagePrediction& prediction) {
  nlohmann::ordered_json detections = nlohmann::ordered_json::array();
  for (const train::NamedDetection& d : prediction.detections) {
    detections.push_back(nlohmann::ordered_json{
        {"class", d.cls}, {"name", d.name}, {"score", d.score}, {"box", {d.x1, d.y1, d.x2, d.y2}}});
  }
  return nlohmann::ordered_json{
      {"image", image}, {"width", prediction.width}, {"height", prediction.height}, {"detections", detections}};
}

// The message of a problem without its "path: " prefix (the listing names the file).
std::string reason_of(const data::SampleProblem& problem) {
  const std::string text = problem.what(), prefix = problem.where() + ": ";
  return text.rfind(prefix, 0) == 0 ? text.substr(prefix.size()) : text;
}

void print_skipped(std::vector<SkippedFile> skipped, std::size_t total) {
  if (skipped.empty()) return;
  std::sort(skipped.begin(), skipped.end(), [](const SkippedFile& a, const SkippedFile& b) { return a.path < b.path; });
  fmt::print(stderr, "warning: skipped {} of {} files:\n", skipped.size(), total);
  for (std::size_t i = 0; i < skipped.size() && i < kSkippedShown; ++i) {
    fmt::print(stderr, "  {}: {}\n", skipped[i].path, skipped[i].reason);
  }
  if (skipped.size() > kSkippedShown) fmt::print(stderr, "  ... and {} more\n", skipped.size() - kSkippedShown);
}

model::LoadedModel load_weights(const std::string& weights) {
  if (!fs::exists(weights)) fail_user("weights file {} does not exist", weights);
  if (!model::is_weights_file(weights)) {
    fail_user("{} is not a weights or checkpoint file (an HDF5 file written by `shrike train`)", weights);
  }
  return model::load_model(weights);
}

// Where the JSON lines go: stdout, or a temporary sibling of DIR/predictions.jsonl
// renamed into place at the end (an interrupted run leaves no half-written file).
class PredictionSink {
 public:
  explicit PredictionSink(const std::optional<fs::path>& out) {
    if (!out) return;
    std::error_code error;
    fs::create_directories(*out, error);
    if (error) fail_user("cannot create --out folder {}: {}", out->string(), error.message());
    final_ = *out / "predictions.jsonl";
    temporary_ = temporary_sibling(final_);
    file_.open(temporary_, std::ios::binary | std::ios::trunc);
    if (!file_) fail_user("cannot write {}", temporary_.string());
  }
  void write(const nlohmann::ordered_json& line) {
    if (final_.empty()) {
      fmt::print("{}\n", line.dump());
      std::fflush(stdout);
    } else {
      file_ << line.dump() << '\n';
    }
  }
  void finish() {
    if (final_.empty()) return;
    file_.close();
    if (!file_) fail_user("cannot write {} (disk full?)", temporary_.string());
    rename_durably(temporary_, final_);
  }
  ~PredictionSink() {
    if (!final_.empty() && fs::exists(temporary_)) fs::remove(temporary_);
  }

 private:
  fs::path final_, temporary_;
  std::ofstream file_;
};

}  // namespace

int run_predict(const Args& args) {
  CommandSpec spec = predict_spec();
  auto values = parse_options(spec, args);
  if (!values) return kExitOk;
  PredictOptions options = options_from(*values);
  model::LoadedModel loaded = load_weights(options.weights);
  const std::vector<int>& strides = loaded.model->strides();
  const int stride = *std::max_element(strides.begin(), strides.end());
  options.settings.imgsz = train::imgsz_for_stride(options.imgsz.value_or(loaded.weights->imgsz), stride,
                                                   [](const std::string& line) { fmt::print(stderr, "{}\n", line); });
  std::vector<SkippedFile> skipped;
  const std::vector<SourceImage> images = list_sources(options.sources, skipped);
  std::vector<fs::path> annotated;
  if (options.save_images) annotated = annotated_paths(images, *options.out);
  const std::size_t listed = images.size() + skipped.size();

  PredictionSink sink(options.out);
  const auto start = std::chrono::steady_clock::now();
  std::size_t predicted = 0, detections = 0;
  for (std::size_t i = 0; i < images.size(); ++i) {
    throw_if_interrupted();
    const std::string path = images[i].path.string();
    try {
      const data::RgbImage image = data::decode_image(data::read_file_bytes(path), path);
      const train::ImagePrediction prediction =
          train::predict_image(*loaded.model, loaded.weights->names, image, options.settings);
      nlohmann::ordered_json line = prediction_json(path, prediction);
      if (options.save_images) {
        train::write_annotated_jpeg(annotated[i], image, prediction.detections);
        line["annotated"] = annotated[i].string();
      }
      sink.write(line);
      ++predicted;
      detections += prediction.detections.size();
    } catch (const data::SampleProblem& problem) {
      skipped.push_back({path, reason_of(problem)});
    }
  }
  sink.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_skipped(skipped, listed);
  if (predicted == 0) fail_user("no image could be predicted ({} files skipped)", skipped.size());
  fmt::print(stderr, "predicted {} image{} ({} detections) in {:.1f} s{}\n", predicted, predicted == 1 ? "" : "s",
             detections, seconds,
             options.out ? fmt::format("; wrote {}", (*options.out / "predictions.jsonl").string()) : std::string());
  return kExitOk;
}

}  // namespace shrike::cli
