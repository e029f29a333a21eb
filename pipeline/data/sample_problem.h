// pipeline/data/sample_problem.h
//
// A problem with one sample (an image or its label file) found while reading a
// dataset. It skips that sample, never the whole run: the sharder catches it, reports
// "file[:line]: message", and summarises the count per kind at the end.
// Problems that end the command (no images, a bad data.yaml) are UserErrors instead.
#pragma once

#include <stdexcept>
#include <string>

namespace shrike::data {

class SampleProblem : public std::runtime_error {
 public:
  // `kind` groups problems in the summary ("corrupt image", "unknown class"); `where`
  // is "path" or "path:line".
  SampleProblem(std::string kind, std::string where, const std::string& message)
      : std::runtime_error(where + ": " + message), kind_(std::move(kind)), where_(std::move(where)) {}
  const std::string& kind() const { return kind_; }
  const std::string& where() const { return where_; }

 private:
  std::string kind_;
  std::string where_;
};

}  // namespace shrike::data
