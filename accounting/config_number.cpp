// accounting/config_number.cpp: the checked number of a configuration file.
#include "accounting/config_number.h"

#include <cmath>

#include "pipeline/core/error.h"

namespace shrike::accounting {

double config_number(const YAML::Node& node, const std::string& where, double lo, double hi, bool whole) {
  const char* kind = whole ? "a whole number" : "a number";
  double value = 0;
  try {
    value = node.as<double>();
  } catch (const YAML::Exception&) {
    fail_user("{} must be {}, found '{}'.", where, kind,
              node.IsScalar() ? node.Scalar() : std::string("a list or mapping"));
  }
  if (!std::isfinite(value) || value < lo || value > hi || (whole && value != std::floor(value))) {
    fail_user("{} is {}; it must be {} between {} and {}.", where, node.Scalar(), kind, lo, hi);
  }
  return value;
}

}  // namespace shrike::accounting
