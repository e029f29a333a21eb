// pipeline/data/synth_scene.h
//
// One image of `shrike synth`'s synthetic detection dataset, rendered from a seed: a
// cluttered textured background (gradients, value noise, stripes, thin lines, small
// distractor blobs that are none of the classes) and 0..8 filled shapes of a few
// classes (sizes, colours, rotations, limited overlaps), with the tight axis-aligned
// box of every shape. A pure function of (seed, classes): no I/O, no clock, no
// std:: distributions (their output is implementation-defined), so the same seed gives
// the same pixels on every thread and every run. synth_dataset.cpp turns scenes into
// a YOLO-format folder; the quickstart and the tests train and check on it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/random.h"
#include "pipeline/data/image_codec.h"

namespace shrike::data {

inline constexpr int kSynthMaxClasses = 8;
// Class names in class-index order; a dataset with K classes uses the first K.
inline constexpr std::array<std::string_view, kSynthMaxClasses> kSynthClassNames{
    "circle", "square", "triangle", "star", "hexagon", "cross", "ring", "diamond"};

// Image sizes: width and height each in [kSynthMinSide, kSynthMaxSide], aspect ratio
// (width / height) within [1/2, 2].
inline constexpr int kSynthMinSide = 256;
inline constexpr int kSynthMaxSide = 720;
inline constexpr int kSynthMaxObjects = 8;
// Pairwise IoU of two object boxes never exceeds this.
inline constexpr double kSynthMaxIou = 0.3;

// xoshiro256** seeded through splitmix64: small, fast, the same numbers everywhere.
class SynthRng {
 public:
  explicit SynthRng(std::uint64_t seed) {
    for (auto& word : state_) word = splitmix64(seed);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9, t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  // [0, 1), 53 random bits
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // [low, high)
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // [0, n), n >= 1: Lemire's multiply-shift on the top 32 bits (integer math only)
  int below(int n) { return static_cast<int>(((next() >> 32) * static_cast<std::uint64_t>(n)) >> 32); }
  // [low, high], inclusive
  int between(int low, int high) { return low + below(high - low + 1); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> state_;
};

// The seed of image `index` of split `split` (0 train, 1 val) of a dataset made with
// `seed`: every image is independent of every other, so they render in any order.
std::uint64_t synth_image_seed(std::uint64_t seed, int split, std::uint64_t index);

// One drawn shape. Coordinates are continuous pixels: pixel (x, y) covers
// [x, x+1) x [y, y+1); the box is the tight axis-aligned box of the shape as drawn
// (analytic, from the rotated vertices or the radius), inside [0, width] x [0, height].
struct SynthObject {
  int class_id = 0;
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // box corners, pixels
  double cx = 0, cy = 0;                  // the shape's centre (inside it except for "ring")
  std::array<std::uint8_t, 3> rgb{};      // its fill colour (exact at the centre, before noise)
};

struct SynthScene {
  RgbImage image;                    // (height, width, 3)
  std::vector<SynthObject> objects;  // in drawing order: later ones occlude earlier ones
};

// Renders the scene of `seed` with classes [0, classes), classes in 1..kSynthMaxClasses.
SynthScene render_synthetic_scene(std::uint64_t seed, int classes);

// The YOLO label file of a scene: one "class cx cy w h" line per object, normalised to
// the image size, 6 decimals; empty for a background image (no objects).
std::string format_yolo_labels(const SynthScene& scene);

}  // namespace shrike::data
