// pipeline/train/training_inputs.cpp: resolving `data:` and `model:`.
#include "pipeline/train/training_inputs.h"

#include <fmt/core.h>

#include <cstdlib>

#include "pipeline/core/config_dir.h"
#include "pipeline/core/error.h"
#include "pipeline/data/shard_cache.h"
#include "pipeline/data/shard_manifest.h"
#include "pipeline/model/model_loading.h"

namespace shrike::train {

namespace fs = std::filesystem;

fs::path default_shard_cache(const Experiment& experiment) {
  if (!experiment.text("cache").empty()) return experiment.text("cache");
  if (const char* home = std::getenv("SHRIKE_HOME"); home != nullptr && *home != '\0') return fs::path(home) / "shards";
  const char* user_home = std::getenv("HOME");
  return fs::path(user_home != nullptr ? user_home : ".") / ".shrike" / "shards";
}

TrainingData open_training_data(const Experiment& experiment, const std::function<void(const std::string&)>& log) {
  const std::string data = experiment.text("data");
  if (data.empty()) {
    fail_user("no data: set data=DIR (a shard folder made by `shrike shard`) or data=path/to/data.yaml");
  }
  TrainingData result;
  if (fs::is_directory(data) && fs::exists(fs::path(data) / data::kManifestFile)) {
    result.shard_dir = data;
  } else if (fs::is_regular_file(data) && (fs::path(data).extension() == ".yaml" || fs::path(data).extension() == ".yml")) {
    data::ShardOptions options;
    options.data_yaml = data;
    options.imgsz = experiment.integer("imgsz");
    options.progress = true;
    options.splits = {};
    log(fmt::format("data {}: using the shard cache in {}", data, default_shard_cache(experiment).string()));
    data::CachedShards cached = data::ensure_shard_cache(options, default_shard_cache(experiment));
    if (cached.built) log(data::format_shard_summary(cached.report, 10));
    result.shard_dir = cached.dir;
  } else {
    fail_user("data={} is neither a shard folder (with {}) nor a data.yaml file", data, data::kManifestFile);
  }
  data::ShardManifest manifest = data::read_manifest(result.shard_dir);
  if (!manifest.splits.count("train")) fail_user("{} has no 'train' split to train on", result.shard_dir.string());
  result.train = std::make_unique<data::ShardSet>(result.shard_dir, "train");
  if (manifest.splits.count("val")) result.val = std::make_unique<data::ShardSet>(result.shard_dir, "val");
  result.names = manifest.names;
  result.source_fingerprint = manifest.source_fingerprint;
  return result;
}

namespace {

// The model YAML a checkpoint should record: a name shrike resolves (yolov8n.yaml)
// when the definition came from the configs folder, else the definition itself.
std::string checkpoint_model_yaml(const model::ModelSpec& spec) {
  const fs::path known = config_dir() / "models";
  if (fs::path(spec.source).parent_path() == known) return spec.name + ".yaml";
  return spec.yaml_text;
}

// Copies every tensor of `state` whose name and shape fit `params`; returns how many.
std::size_t transfer_matching(model::ParamStore& params, const model::StateDict& state) {
  std::size_t transferred = 0;
  for (int i = 0; i < static_cast<int>(params.entries().size()); ++i) {
    const model::TensorEntry& e = params.entry(i);
    auto shape = state.shapes.find(e.name);
    if (shape == state.shapes.end() || shape->second != e.shape) continue;
    if (e.role == model::TensorRole::kCounter) {
      *params.counter(i) = state.counters.at(e.name).at(0);
    } else {
      const auto& values = state.floats.at(e.name);
      std::copy(values.begin(), values.end(), params.value(i));
    }
    ++transferred;
  }
  return transferred;
}

}  // namespace

TrainingModel build_training_model(const Experiment& experiment, int nc, std::uint64_t seed) {
  const std::string source = experiment.text("model");
  TrainingModel result;
  if (!model::is_weights_file(source)) {
    result.model = std::make_unique<model::Model>(model::load_model_spec(source, nc));
    result.model->initialize(seed);
    result.model_yaml = checkpoint_model_yaml(result.model->spec());
    return result;
  }
  model::WeightsInfo info = model::read_weights_info(source);
  model::ModelSpec spec = (info.model_yaml.find('\n') == std::string::npos)
                              ? model::load_model_spec(info.model_yaml, nc)
                              : model::parse_model_spec(info.model_yaml, fs::path(source).stem().string(), source, nc);
  result.model = std::make_unique<model::Model>(std::move(spec));
  result.model->initialize(seed);
  model::StateDict state = model::read_state_dict(source, model::deployable_group(source));
  const std::size_t total = result.model->params().entries().size();
  const std::size_t transferred = transfer_matching(result.model->params(), state);
  result.model_yaml = info.model_yaml;
  result.note = fmt::format("base model {}: transferred {}/{} tensors{}", source, transferred, total,
                            info.nc == nc ? std::string()
                                          : fmt::format("; it was trained for {} classes, the data has {}: the class "
                                                        "heads start from scratch", info.nc, nc));
  if (transferred == 0) {
    fail_user("model={}: none of its tensors fit the architecture it names ({}); is the file damaged?", source,
              info.model_yaml.substr(0, 64));
  }
  return result;
}

}  // namespace shrike::train
