// pipeline/train/experiment.h
//
// An experiment: every setting of a training run, by the reference trainer's key
// names and with its defaults (spec § 3 and § 4), from an optional YAML file and then
// `key=value` overrides, as users of that trainer type them:
//   shrike train exp.yaml epochs=3 lr0=0.02      shrike train model=yolov8n.yaml data=d epochs=3
// Unknown keys and bad values are errors that name the key (and the file and line)
// and suggest the closest valid key. The resolved experiment is written to the run
// folder's config.yaml and stored in checkpoints, so `resume` restores it exactly.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace shrike::train {

class Experiment {
 public:
  // Defaults only.
  Experiment();

  // Reads `file` (may be empty) then applies `overrides` ("key=value" each).
  static Experiment load(const std::filesystem::path& file, const std::vector<std::string>& overrides);
  // Parses a resolved config (config.yaml or a checkpoint's `config` attribute).
  static Experiment from_yaml_text(const std::string& text, const std::string& source);

  // Sets one key from text, checking its type and range; `where` names the origin in
  // errors ("exp.yaml line 4", "command line").
  void set(const std::string& key, const std::string& value, const std::string& where);

  std::string text(const std::string& key) const;
  double number(const std::string& key) const;
  int integer(const std::string& key) const;
  bool flag(const std::string& key) const;
  bool is_set_by_user(const std::string& key) const;

  // The full resolved experiment as YAML (every key, in a fixed order).
  std::string to_yaml() const;
  // Keys whose values differ between two experiments (for `shrike compare`).
  static std::vector<std::string> differing_keys(const Experiment& a, const Experiment& b);

  // Every key shrike knows, in order, with its help text.
  static const std::vector<std::pair<std::string, std::string>>& known_keys();

 private:
  std::map<std::string, std::string> values_;  // canonical text of each value
  std::map<std::string, bool> user_set_;
};

// The closest known key to `key` by edit distance, or "" if nothing is close.
std::string closest_key(const std::string& key);

}  // namespace shrike::train
