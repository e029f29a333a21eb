// pipeline/cli/submission_inputs.cpp: the experiment, workload, sweeps and past
// throughput behind a submission.
#include "pipeline/cli/submission_inputs.h"

#include <fmt/core.h>

#include <map>
#include <set>
#include <sstream>

#include "pipeline/core/error.h"
#include "pipeline/core/paths.h"
#include "pipeline/data/data_yaml.h"
#include "pipeline/data/dataset_listing.h"
#include "pipeline/data/shard_manifest.h"
#include "pipeline/model/model_info.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/train/run_folder.h"
#include "pipeline/train/run_summary.h"

namespace shrike::cli {

namespace fs = std::filesystem;

namespace {

// A name-safe rendering of a sweep value for run names ("0.01" stays, "a/b" -> "a_b").
std::string name_part(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-';
    out += safe ? c : '_';
  }
  return out;
}

std::vector<std::string> split_values(const std::string& text) {
  std::vector<std::string> values;
  std::stringstream stream(text);
  std::string value;
  while (std::getline(stream, value, ',')) values.push_back(value);
  if (!text.empty() && text.back() == ',') values.push_back("");
  return values;
}

}  // namespace

void make_paths_absolute(train::Experiment& experiment) {
  const std::string data = experiment.text("data");
  if (!data.empty()) experiment.set("data", absolute_path(data).string(), "submission");
  const std::string model = experiment.text("model");
  if (fs::exists(model)) experiment.set("model", absolute_path(model).string(), "submission");
  const std::string cache = experiment.text("cache");
  if (!cache.empty()) experiment.set("cache", absolute_path(cache).string(), "submission");
  experiment.set("project", train::resolve_project_dir(experiment.text("project")).string(), "submission");
}

train::Experiment load_submission_experiment(const std::string& file, const std::vector<std::string>& overrides) {
  train::Experiment experiment = train::Experiment::load(file, overrides);
  if (experiment.text("data").empty()) {
    fail_user("the experiment names no data: set data: in {} or pass data=SHARDS_OR_DATA_YAML.",
              file.empty() ? std::string("an experiment file") : file);
  }
  const std::string resume = experiment.text("resume");
  if (resume != "false" && !resume.empty()) {
    fail_user("resume={} cannot be submitted as a new job; use `shrike resume RUN_DIR --submit`.", resume);
  }
  make_paths_absolute(experiment);
  return experiment;
}

TrainingWorkload measure_workload(const train::Experiment& experiment) {
  TrainingWorkload workload;
  const fs::path data = experiment.text("data");
  int nc = 0;
  if (fs::is_directory(data)) {
    const data::ShardManifest manifest = data::read_manifest(data);
    auto images = [&](const std::string& split) {
      const auto found = manifest.splits.find(split);
      return found == manifest.splits.end() ? std::size_t{0} : found->second.images;
    };
    workload.train_images = images("train");
    workload.val_images = images("val");
    nc = static_cast<int>(manifest.names.size());
    workload.data_source = fmt::format("shard manifest {}", (data / data::kManifestFile).string());
  } else if (fs::is_regular_file(data)) {
    const data::DataYaml yaml = data::load_data_yaml(data);
    workload.train_images = data::list_split_images(yaml, "train").images.size();
    if (yaml.splits.count("val")) workload.val_images = data::list_split_images(yaml, "val").images.size();
    nc = static_cast<int>(yaml.names.size());
    workload.data_source = fmt::format("{} (images listed)", data.string());
  } else {
    fail_user("data={} does not exist: give a shard folder (shrike shard) or a data.yaml.", data.string());
  }
  if (workload.train_images == 0) {
    fail_user("data={} has no training images ({}); nothing to train on.", data.string(), workload.data_source);
  }
  model::LoadedModel loaded = model::load_model(experiment.text("model"), nc > 0 ? std::optional<int>(nc) : std::nullopt);
  workload.gflops_640 = model::reference_gflops(*loaded.model, 640);
  const double scale = experiment.integer("imgsz") / 640.0;
  workload.gflops_per_image = workload.gflops_640 * scale * scale;  // convolution work grows with the area
  return workload;
}

std::vector<SweepPoint> expand_sweeps(const std::vector<std::string>& specs) {
  std::vector<SweepPoint> points(1);
  std::set<std::string> keys;
  for (const std::string& spec : specs) {
    const std::size_t equals = spec.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == spec.size()) {
      fail_user("--sweep {}: write KEY=V1,V2,... (for example --sweep lr0=0.01,0.02).", spec);
    }
    const std::string key = spec.substr(0, equals);
    if (!keys.insert(key).second) fail_user("--sweep names {} twice; give all its values in one --sweep.", key);
    if (key == "name" || key == "project" || key == "data" || key == "resume") {
      fail_user("--sweep {}: {} cannot be swept (every run of a sweep shares the project and the data).", spec, key);
    }
    const std::vector<std::string> values = split_values(spec.substr(equals + 1));
    train::Experiment check;
    for (const std::string& value : values) check.set(key, value, "--sweep " + spec);
    std::vector<SweepPoint> expanded;
    for (const SweepPoint& point : points) {
      for (const std::string& value : values) {
        SweepPoint next = point;
        next.settings.emplace_back(key, value);
        next.name_suffix += fmt::format("-{}-{}", name_part(key), name_part(value));
        expanded.push_back(std::move(next));
      }
    }
    points = std::move(expanded);
  }
  if (points.size() > 1000) fail_user("the sweep has {} combinations; at most 1000 go into one job array.", points.size());
  return points;
}

std::vector<scheduler::ThroughputSample> past_throughput(const scheduler::JobRegistry& registry) {
  std::vector<scheduler::ThroughputSample> samples;
  std::map<std::string, int> per_instance;
  std::set<std::string> seen;
  for (const scheduler::JobRecord& job : registry.list()) {  // newest first
    if (job.gflops_per_image <= 0 || !seen.insert(job.run_dir).second) continue;
    if (per_instance[job.instance] >= 20 || !fs::is_directory(job.run_dir)) continue;
    const train::RunSummary summary = train::read_run_summary(job.run_dir);
    if (!summary.images_per_second || *summary.images_per_second <= 0) continue;
    samples.push_back({job.run_dir, job.instance, *summary.images_per_second, job.gflops_per_image});
    ++per_instance[job.instance];
  }
  return samples;
}

}  // namespace shrike::cli
