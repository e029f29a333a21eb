// pipeline/train/training_inputs.h
//
// What a run trains on, resolved from the experiment: the data (`data:` a shard
// folder, or a data.yaml that is sharded once into the shard cache, keyed by its
// content and settings, under a lock so ranks and jobs never build it twice) and the
// model (`model:` a model YAML, trained from scratch, or a weights/checkpoint file,
// the "base model": its architecture, and every tensor whose shape fits; class heads
// are re-initialised when the dataset has another class count, and the log says so).
#pragma once

#include <filesystem>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/data/shard_reader.h"
#include "pipeline/model/model.h"
#include "pipeline/model/weights_file.h"
#include "pipeline/train/experiment.h"

namespace shrike::train {

struct TrainingData {
  std::filesystem::path shard_dir;
  std::unique_ptr<data::ShardSet> train;
  std::unique_ptr<data::ShardSet> val;  // null when the shards have no val split
  std::vector<std::string> names;
  std::string source_fingerprint;  // the manifest's, for provenance
};

// Opens (building the cache if needed) the shards `experiment` names. `log` receives
// progress lines ("sharding data.yaml into the cache ...").
TrainingData open_training_data(const Experiment& experiment, const std::function<void(const std::string&)>& log);

struct TrainingModel {
  std::unique_ptr<model::Model> model;
  std::string model_yaml;  // what checkpoints store: a known name, or the YAML text
  std::string note;        // "Transferred 349/355 tensors from base.h5 ..."
};

TrainingModel build_training_model(const Experiment& experiment, int nc, std::uint64_t seed);

// The shard cache: $SHRIKE_HOME/shards (default ~/.shrike/shards) unless `cache=` is set.
std::filesystem::path default_shard_cache(const Experiment& experiment);

}  // namespace shrike::train
