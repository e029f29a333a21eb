// pipeline/data/label_file.cpp: parsing and validating YOLO label text.
#include "pipeline/data/label_file.h"

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pipeline/core/error.h"
#include "pipeline/data/sample_problem.h"

namespace shrike::data {

namespace {

// Coordinates above this are pixel positions, not fractions of the image.
constexpr double kPixelCoordinateThreshold = 1.5;
// Clipping smaller than this is float noise, not counted.
constexpr double kClipTolerance = 1e-6;

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    std::size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

double parse_number(std::string_view field, const std::string& where) {
  double value = 0;
  auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (error != std::errc() || end != field.data() + field.size() || !std::isfinite(value)) {
    throw SampleProblem("bad label line", where, fmt::format("'{}' is not a number", field));
  }
  return value;
}

std::int32_t parse_class(std::string_view field, const std::string& where, int num_classes) {
  double value = parse_number(field, where);
  if (value != std::floor(value)) {
    throw SampleProblem("bad label line", where, fmt::format("class '{}' is not an integer", field));
  }
  if (value < 0 || value >= num_classes) {
    throw SampleProblem("unknown class", where,
                        fmt::format("class {} is out of range (names has {} classes: 0..{})", field,
                                    num_classes, num_classes - 1));
  }
  return static_cast<std::int32_t>(value);
}

struct Corners {
  double x0, y0, x1, y1;
};

Corners corners_of(const std::vector<std::string_view>& fields, const std::string& where) {
  if (fields.size() == 5) {
    double cx = parse_number(fields[1], where), cy = parse_number(fields[2], where);
    double w = parse_number(fields[3], where), h = parse_number(fields[4], where);
    return {cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2};
  }
  if (fields.size() >= 7 && fields.size() % 2 == 1) {  // polygon: class x1 y1 x2 y2 x3 y3 ...
    Corners box{INFINITY, INFINITY, -INFINITY, -INFINITY};
    for (std::size_t i = 1; i < fields.size(); i += 2) {
      double x = parse_number(fields[i], where), y = parse_number(fields[i + 1], where);
      box = {std::min(box.x0, x), std::min(box.y0, y), std::max(box.x1, x), std::max(box.y1, y)};
    }
    return box;
  }
  throw SampleProblem("bad label line", where,
                      fmt::format("expected 5 columns 'class cx cy w h' (or a polygon 'class x1 y1 "
                                  "x2 y2 x3 y3 ...'), found {}",
                                  fields.size()));
}

void reject_pixel_coordinates(const Corners& box, const std::vector<std::string_view>& fields,
                              const std::string& where) {
  double largest = std::max({std::fabs(box.x0), std::fabs(box.y0), std::fabs(box.x1), std::fabs(box.y1)});
  if (largest > kPixelCoordinateThreshold) {
    std::string line;
    for (auto field : fields) line += std::string(line.empty() ? "" : " ") + std::string(field);
    throw SampleProblem("coordinates not normalised", where,
                        fmt::format("'{}' has coordinates outside 0..1 (pixels?); YOLO labels are "
                                    "fractions of the image width and height",
                                    line));
  }
}

// A parsed line, for finding exact duplicates by value (not by spelling).
struct SeenBox {
  std::int32_t class_id;
  double x0, y0, x1, y1;
  bool operator==(const SeenBox&) const = default;
};

}  // namespace

ParsedLabels parse_label_text(std::string_view text, const std::string& path, int num_classes) {
  ParsedLabels parsed;
  std::vector<SeenBox> seen;  // label files are short: a linear scan is fine
  int line_number = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    auto fields = split_fields(line);
    if (fields.empty()) {
      if (end == text.size()) break;
      continue;
    }
    std::string where = fmt::format("{}:{}", path, line_number);
    std::int32_t class_id = parse_class(fields[0], where, num_classes);
    Corners box = corners_of(fields, where);
    reject_pixel_coordinates(box, fields, where);
    SeenBox key{class_id, box.x0, box.y0, box.x1, box.y1};
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      ++parsed.duplicates_removed;
      continue;
    }
    seen.push_back(key);
    Corners clipped{std::clamp(box.x0, 0.0, 1.0), std::clamp(box.y0, 0.0, 1.0),
                    std::clamp(box.x1, 0.0, 1.0), std::clamp(box.y1, 0.0, 1.0)};
    if (clipped.x1 - clipped.x0 <= 0 || clipped.y1 - clipped.y0 <= 0) {
      ++parsed.dropped_empty;
      continue;
    }
    double moved = std::max({std::fabs(clipped.x0 - box.x0), std::fabs(clipped.y0 - box.y0),
                             std::fabs(clipped.x1 - box.x1), std::fabs(clipped.y1 - box.y1)});
    if (moved > kClipTolerance) ++parsed.clipped;
    parsed.boxes.push_back({class_id, static_cast<float>((clipped.x0 + clipped.x1) / 2),
                            static_cast<float>((clipped.y0 + clipped.y1) / 2),
                            static_cast<float>(clipped.x1 - clipped.x0),
                            static_cast<float>(clipped.y1 - clipped.y0)});
    if (end == text.size()) break;
  }
  return parsed;
}

ParsedLabels read_label_file(const std::string& path, int num_classes) {
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) {
    ParsedLabels parsed;
    parsed.file_missing = true;
    return parsed;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw SampleProblem("unreadable label file", path, "cannot open: " + errno_text(errno));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_label_text(buffer.str(), path, num_classes);
}

std::string label_path_for_image(const std::string& image_path) {
  std::string path = image_path;
  std::size_t at = path.rfind("/images/");
  if (at != std::string::npos) path.replace(at, 8, "/labels/");
  std::size_t slash = path.rfind('/');
  std::size_t dot = path.rfind('.');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) path.resize(dot);
  return path + ".txt";
}

}  // namespace shrike::data
