// pipeline/train/experiment.cpp: the key table (types, defaults, ranges), YAML and
// key=value parsing, errors with suggestions, and the resolved YAML.
#include "pipeline/train/experiment.h"

#include <yaml-cpp/yaml.h>

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "pipeline/core/error.h"

namespace shrike::train {

namespace fs = std::filesystem;

namespace {

enum class Kind { kInt, kFloat, kBool, kText };

struct KeySpec {
  const char* name;
  Kind kind;
  const char* fallback;  // the reference's default, as text
  double min, max;       // inclusive range for numbers
  const char* help;
};

constexpr double kAny = 1e300;

// The reference trainer's keys and defaults (Ultralytics 8.3 default.yaml), plus
// shrike's own (credit_limit, rate, account, instance, sync_bn).
const std::vector<KeySpec>& key_table() {
  static const std::vector<KeySpec> keys{
      {"model", Kind::kText, "yolov8n.yaml", 0, 0, "model YAML (from scratch) or weights/checkpoint file (base model)"},
      {"data", Kind::kText, "", 0, 0, "shard folder, or a data.yaml (sharded into a cache first)"},
      {"epochs", Kind::kInt, "100", 1, 1e6, "epochs to train"},
      {"time", Kind::kFloat, "0", 0, 1e5, "hours to train (overrides epochs when > 0)"},
      {"patience", Kind::kInt, "100", 0, 1e9, "epochs without improvement before stopping early"},
      {"batch", Kind::kInt, "16", 1, 1e6, "global batch size"},
      {"imgsz", Kind::kInt, "640", 32, 8192, "training image size (multiple of 32)"},
      {"save_period", Kind::kInt, "-1", -1, 1e6, "save weights/epochN.h5 every N epochs (-1: never)"},
      {"cache", Kind::kText, "", 0, 0, "shard cache folder for data.yaml inputs (default ~/.shrike/shards)"},
      {"workers", Kind::kInt, "8", 0, 1024, "data loader threads (capped at the cores available)"},
      {"device", Kind::kText, "auto", 0, 0, "auto, cpu, cuda or cuda:N"},
      {"amp", Kind::kBool, "true", 0, 0, "GPU mixed precision: bf16 activations and convolutions (False: fp32)"},
      {"gpu_augment", Kind::kBool, "true", 0, 0, "on a GPU, augment there (False: on CPU threads, uploading pixels)"},
      {"project", Kind::kText, "detect", 0, 0, "project: a name under ./runs, or a path"},
      {"name", Kind::kText, "exp", 0, 0, "run name (exp, exp2, ... unless exist_ok)"},
      {"exist_ok", Kind::kBool, "false", 0, 0, "reuse an existing run folder"},
      {"optimizer", Kind::kText, "auto", 0, 0, "auto, SGD, Adam or AdamW"},
      {"seed", Kind::kInt, "0", 0, 4294967295.0, "random seed"},
      {"deterministic", Kind::kBool, "true", 0, 0, "bit-identical results for a seed (CPU)"},
      {"cos_lr", Kind::kBool, "false", 0, 0, "cosine learning-rate schedule"},
      {"close_mosaic", Kind::kInt, "10", 0, 1e6, "last epochs without mosaic"},
      {"resume", Kind::kText, "false", 0, 0, "true (model= a last.h5) or a checkpoint path"},
      {"val", Kind::kBool, "true", 0, 0, "validate every epoch"},
      {"conf", Kind::kFloat, "0.001", 0, 1, "validation confidence threshold"},
      {"iou", Kind::kFloat, "0.7", 0, 1, "validation NMS IoU threshold"},
      {"max_det", Kind::kInt, "300", 1, 1e5, "detections per image after NMS"},
      {"lr0", Kind::kFloat, "0.01", 1e-12, 10, "initial learning rate"},
      {"lrf", Kind::kFloat, "0.01", 0, 1, "final learning rate as a fraction of lr0"},
      {"momentum", Kind::kFloat, "0.937", 0, 1, "SGD momentum / Adam beta1"},
      {"weight_decay", Kind::kFloat, "0.0005", 0, 1, "weight decay (scaled by the nominal batch)"},
      {"warmup_epochs", Kind::kFloat, "3.0", 0, 1e4, "warmup epochs"},
      {"warmup_momentum", Kind::kFloat, "0.8", 0, 1, "warmup initial momentum"},
      {"warmup_bias_lr", Kind::kFloat, "0.1", 0, 10, "warmup initial bias learning rate"},
      {"box", Kind::kFloat, "7.5", 0, 1e4, "box loss gain"},
      {"cls", Kind::kFloat, "0.5", 0, 1e4, "class loss gain"},
      {"dfl", Kind::kFloat, "1.5", 0, 1e4, "DFL loss gain"},
      {"nbs", Kind::kInt, "64", 1, 1e6, "nominal batch size"},
      {"hsv_h", Kind::kFloat, "0.015", 0, 1, "hue augmentation (fraction)"},
      {"hsv_s", Kind::kFloat, "0.7", 0, 1, "saturation augmentation (fraction)"},
      {"hsv_v", Kind::kFloat, "0.4", 0, 1, "value augmentation (fraction)"},
      {"degrees", Kind::kFloat, "0.0", 0, 180, "rotation (+/- degrees)"},
      {"translate", Kind::kFloat, "0.1", 0, 1, "translation (+/- fraction)"},
      {"scale", Kind::kFloat, "0.5", 0, 1, "scale gain (+/-)"},
      {"shear", Kind::kFloat, "0.0", 0, 180, "shear (+/- degrees)"},
      {"perspective", Kind::kFloat, "0.0", 0, 0.001, "perspective (+/- fraction)"},
      {"flipud", Kind::kFloat, "0.0", 0, 1, "vertical flip probability"},
      {"fliplr", Kind::kFloat, "0.5", 0, 1, "horizontal flip probability"},
      {"mosaic", Kind::kFloat, "1.0", 0, 1, "mosaic probability"},
      {"mixup", Kind::kFloat, "0.0", 0, 1, "mixup probability"},
      {"sync_bn", Kind::kBool, "false", 0, 0, "synchronise BatchNorm statistics across ranks"},
      {"bucket_mb", Kind::kFloat, "4", 0, 1024,
       "gradient all-reduce bucket size in MiB, overlapped with backward (0: one all-reduce after it; "
       "default 4, or 0 when all ranks share one node's cores)"},
      {"credit_limit", Kind::kFloat, "0", 0, 1e12, "credits this run may spend (0: no limit)"},
      {"rate", Kind::kFloat, "0", 0, 1e9, "credits per GPU-hour (or CPU-hour) of this instance"},
      {"instance", Kind::kText, "cpu", 0, 0, "instance type id (for usage.json and billing)"},
      {"account", Kind::kText, "", 0, 0, "account billed (default: the user)"},
  };
  return keys;
}

const KeySpec* find_key(const std::string& key) {
  for (const auto& spec : key_table()) {
    if (key == spec.name) return &spec;
  }
  return nullptr;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// Canonical text of a value of `spec`'s kind, or a UserError naming key and origin.
std::string canonical(const KeySpec& spec, const std::string& raw, const std::string& where) {
  auto bad = [&](const char* expected) {
    fail_user("{}: {}={} is not {} ({}).", where, spec.name, raw, expected, spec.help);
  };
  if (spec.kind == Kind::kText) return raw;
  if (spec.kind == Kind::kBool) {
    const std::string v = lower(raw);
    if (v == "true" || v == "1" || v == "yes") return "true";
    if (v == "false" || v == "0" || v == "no") return "false";
    bad("true or false");
  }
  double value = 0;
  auto [end, error] = std::from_chars(raw.data(), raw.data() + raw.size(), value);
  if (error != std::errc() || end != raw.data() + raw.size() || !std::isfinite(value)) {
    bad(spec.kind == Kind::kInt ? "an integer" : "a number");
  }
  if (spec.kind == Kind::kInt && value != std::floor(value)) bad("an integer");
  if (value < spec.min || value > spec.max) {
    fail_user("{}: {}={} is out of range: it must be between {} and {} ({}).", where, spec.name, raw,
              spec.min <= -kAny ? std::string("-inf") : fmt::format("{:g}", spec.min), fmt::format("{:g}", spec.max),
              spec.help);
  }
  return spec.kind == Kind::kInt ? fmt::format("{}", static_cast<long long>(value)) : fmt::format("{}", value);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) fail_user("cannot read the experiment file {}", path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& Experiment::known_keys() {
  static const std::vector<std::pair<std::string, std::string>> keys = [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& spec : key_table()) out.emplace_back(spec.name, spec.help);
    return out;
  }();
  return keys;
}

std::string closest_key(const std::string& key) {
  std::string best;
  std::size_t best_distance = 3;  // suggest only near misses
  for (const auto& spec : key_table()) {
    std::size_t d = edit_distance(lower(key), spec.name);
    if (d < best_distance) {
      best_distance = d;
      best = spec.name;
    }
  }
  return best;
}

Experiment::Experiment() {
  for (const auto& spec : key_table()) values_[spec.name] = canonical(spec, spec.fallback, "defaults");
}

void Experiment::set(const std::string& key, const std::string& value, const std::string& where) {
  const KeySpec* spec = find_key(key);
  if (spec == nullptr) {
    std::string suggestion = closest_key(key);
    fail_user("{}: unknown key '{}'{}. Run `shrike train --help` for every key.", where, key,
              suggestion.empty() ? "" : fmt::format("; did you mean '{}'?", suggestion));
  }
  values_[key] = canonical(*spec, value, where);
  user_set_[key] = true;
}

Experiment Experiment::from_yaml_text(const std::string& text, const std::string& source) {
  Experiment experiment;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& error) {
    fail_user("{} line {}: not valid YAML ({})", source, error.mark.line + 1, error.msg);
  }
  if (root.IsNull()) return experiment;
  if (!root.IsMap()) fail_user("{}: an experiment is a YAML mapping of keys (epochs: 100, ...)", source);
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    const std::string where = fmt::format("{} line {}", source, item.first.Mark().line + 1);
    if (!item.second.IsScalar() && !item.second.IsNull()) fail_user("{}: '{}' must be a single value", where, key);
    experiment.set(key, item.second.IsNull() ? "" : item.second.as<std::string>(), where);
  }
  return experiment;
}

Experiment Experiment::load(const fs::path& file, const std::vector<std::string>& overrides) {
  Experiment experiment = file.empty() ? Experiment() : from_yaml_text(read_file(file), file.string());
  for (const std::string& item : overrides) {
    const std::size_t equals = item.find('=');
    if (equals == std::string::npos || equals == 0) {
      fail_user("'{}' is not a key=value setting (for example epochs=10)", item);
    }
    experiment.set(item.substr(0, equals), item.substr(equals + 1), "command line");
  }
  return experiment;
}

std::string Experiment::text(const std::string& key) const {
  auto found = values_.find(key);
  if (found == values_.end()) fail_internal("experiment key {} is not in the key table", key);
  return found->second;
}

double Experiment::number(const std::string& key) const { return std::stod(text(key)); }
int Experiment::integer(const std::string& key) const { return static_cast<int>(std::stoll(text(key))); }
bool Experiment::flag(const std::string& key) const { return text(key) == "true"; }
bool Experiment::is_set_by_user(const std::string& key) const { return user_set_.count(key) > 0; }

std::string Experiment::to_yaml() const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const auto& spec : key_table()) {
    out << YAML::Key << spec.name << YAML::Value;
    const std::string& value = values_.at(spec.name);
    if (spec.kind == Kind::kText) {
      out << YAML::DoubleQuoted << value;
    } else {
      out << value;
    }
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::vector<std::string> Experiment::differing_keys(const Experiment& a, const Experiment& b) {
  std::vector<std::string> keys;
  for (const auto& spec : key_table()) {
    if (a.values_.at(spec.name) != b.values_.at(spec.name)) keys.push_back(spec.name);
  }
  return keys;
}

}  // namespace shrike::train
