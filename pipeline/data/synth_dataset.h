// pipeline/data/synth_dataset.h
//
// `shrike synth`: writes a whole synthetic detection dataset in YOLO format, for the
// quickstart and the tests:
//   DIR/data.yaml                    path: ., train: images/train, val: images/val, names
//   DIR/images/{train,val}/NNNNNN.jpg   JPEG quality 90, 4:2:0
//   DIR/labels/{train,val}/NNNNNN.txt   "class cx cy w h" lines, empty for backgrounds
// Image i of split s is render_synthetic_scene(synth_image_seed(seed, s, i), classes),
// rendered on every core and written in order, so the same options give the same bytes
// whatever the thread count. The dataset is built in a sibling folder DIR.tmp-<pid> and
// renamed to DIR only when complete: an interrupted or failed run leaves nothing half
// written under DIR (and removes its temporary folder).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace shrike::data {

struct SynthOptions {
  std::filesystem::path out;  // the dataset folder to create
  int train = 256;            // images in the train split, 1..kSynthMaxImagesPerSplit
  int val = 64;               // images in the val split, 0..kSynthMaxImagesPerSplit
  int classes = 4;            // 1..kSynthMaxClasses; the first `classes` of kSynthClassNames
  std::uint64_t seed = 0;
  bool overwrite = false;     // replace a non-empty `out` (only once the new one is complete)
  unsigned threads = 0;       // render threads; 0: available_cores(). Never changes the bytes.
  bool progress = true;       // a ProgressBar per split on stderr
};

// File names have six digits (000000.jpg), so a split holds at most this many images.
inline constexpr int kSynthMaxImagesPerSplit = 1000000;

struct SynthSplitSummary {
  std::string name;     // "train", "val"
  int images = 0;
  int boxes = 0;        // label lines
  int backgrounds = 0;  // images without any object (empty label file)
};

struct SynthSummary {
  std::filesystem::path out;  // absolute
  std::vector<SynthSplitSummary> splits;
  double seconds = 0;
};

// Writes the dataset described by `options`. Throws UserError for bad options, an
// existing non-empty `out` without `overwrite`, or a file that cannot be written;
// Interrupted when the user pressed Ctrl-C. On any failure `out` is left as it was.
SynthSummary write_synthetic_dataset(const SynthOptions& options);

// The data.yaml of a synthetic dataset with `classes` classes.
std::string synth_data_yaml(int classes, int train, int val, std::uint64_t seed);

}  // namespace shrike::data
