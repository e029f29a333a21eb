// pipeline/data/label_file.h
//
// YOLO label files: one line per object, `class cx cy w h` normalised to 0..1, or a
// polygon `class x1 y1 x2 y2 ...` (its bounding box is used, as the reference does).
// Validation follows what users need (issue 2):
//  - blank lines are ignored; a missing or empty file is a background image;
//  - exact duplicate lines are removed and counted;
//  - boxes reaching a little outside 0..1 are clipped to the image and counted; boxes
//    with no area left (or a zero/negative size) are dropped and counted;
//  - a wrong column count, a non-number, a class id that is not an integer in
//    [0, nc), or coordinates that are clearly pixels rather than fractions make the
//    whole sample a SampleProblem naming "file:line" (a partly labelled image would
//    teach the model that the unlabelled objects are background).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shrike::data {

// One object: class id and the box, normalised cx, cy, w, h.
struct LabelBox {
  std::int32_t class_id;
  float cx, cy, w, h;
  bool operator==(const LabelBox&) const = default;
};

struct ParsedLabels {
  std::vector<LabelBox> boxes;
  bool file_missing = false;  // no label file: a background image
  int duplicates_removed = 0;
  int clipped = 0;            // boxes moved inside 0..1
  int dropped_empty = 0;      // boxes with no area (after clipping)
};

// Parses label text; `path` names the file in problems; `num_classes` bounds ids.
ParsedLabels parse_label_text(std::string_view text, const std::string& path, int num_classes);
// Reads and parses the file; a missing file gives an empty ParsedLabels with file_missing.
ParsedLabels read_label_file(const std::string& path, int num_classes);

// The label file of an image, as the reference finds it: the last "/images/" in the
// path becomes "/labels/", and the extension becomes ".txt".
std::string label_path_for_image(const std::string& image_path);

}  // namespace shrike::data
