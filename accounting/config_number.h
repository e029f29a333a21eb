// accounting/config_number.h
//
// One reader for the numbers of shrike's YAML configuration files (accounting.yaml with
// its scheduler: section, instances.yaml), so that every bad number gets the same kind
// of message: where it is, what was found, and the range it must be in.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

namespace shrike::accounting {

// `node` as a number in [lo, hi] (a whole number when `whole`). `where` names it for the
// user ("FILE line N: 'key'"). UserError for text, lists, non-finite or out-of-range values.
double config_number(const YAML::Node& node, const std::string& where, double lo, double hi, bool whole = false);

}  // namespace shrike::accounting
