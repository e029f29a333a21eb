// pipeline/data/synth_scene.cpp: the background layers, the shape outlines, their
// placement under the overlap limits, anti-aliased drawing, and the label text.
//
// Everything is drawn into a float canvas (height, width, 3), 0..255, and quantised once
// at the end. Random numbers come from one SynthRng per image, drawn in a fixed order.
#include "pipeline/data/synth_scene.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "pipeline/core/error.h"

namespace shrike::data {

std::uint64_t synth_image_seed(std::uint64_t seed, int split, std::uint64_t index) {
  std::uint64_t state = seed;
  state = splitmix64(state) ^ (0xA0761D6478BD642Full * (static_cast<std::uint64_t>(split) + 1));
  state = splitmix64(state) ^ index;
  return splitmix64(state);
}

namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kBackgroundFraction = 0.03;  // images with no object at all
constexpr double kMinSizeFraction = 0.05;     // object diameter / shorter image side
constexpr double kMaxSizeFraction = 0.45;
constexpr double kMaxCoveredFraction = 0.35;  // of an earlier box, by a later box
constexpr int kPlacementAttempts = 60;
constexpr double kMinContrast = 110;  // RGB distance of an object from its surroundings

// ---------------------------------------------------------------- canvas and colours

using Colour = std::array<double, 3>;  // RGB, 0..255

// (height, width, 3) float RGB, 0..255: the image before quantisation.
struct Canvas {
  int width = 0, height = 0;
  std::vector<float> rgb;

  float* pixel(int x, int y) { return rgb.data() + (static_cast<std::size_t>(y) * width + x) * 3; }
  // Over-composites `colour` with opacity `alpha` (0..1) on pixel (x, y), if inside.
  void blend(int x, int y, const Colour& colour, double alpha) {
    if (x < 0 || y < 0 || x >= width || y >= height || alpha <= 0) return;
    float* p = pixel(x, y);
    for (int c = 0; c < 3; ++c) p[c] = static_cast<float>(p[c] + (colour[c] - p[c]) * alpha);
  }
};

// The pixels [first, end) that the continuous interval [low, high) touches, within [0, limit).
struct PixelSpan {
  int first, end;
};
PixelSpan pixel_span(double low, double high, int limit) {
  return {std::max(0, static_cast<int>(std::floor(low))), std::min(limit, static_cast<int>(std::ceil(high)))};
}

Colour mix(const Colour& a, const Colour& b, double t) {
  return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
}

double distance(const Colour& a, const Colour& b) {
  return std::hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

double smoothstep(double edge0, double edge1, double x) {
  double t = std::clamp((x - edge0) / (edge1 - edge0), 0.0, 1.0);
  return t * t * (3 - 2 * t);
}

// hue, saturation, value in [0, 1] -> RGB 0..255
Colour hsv_colour(double hue, double saturation, double value) {
  double h6 = (hue - std::floor(hue)) * 6;
  int sector = static_cast<int>(h6) % 6;
  double f = h6 - std::floor(h6);
  double p = value * (1 - saturation), q = value * (1 - saturation * f);
  double t = value * (1 - saturation * (1 - f));
  Colour c;
  switch (sector) {
    case 0: c = {value, t, p}; break;
    case 1: c = {q, value, p}; break;
    case 2: c = {p, value, t}; break;
    case 3: c = {p, q, value}; break;
    case 4: c = {t, p, value}; break;
    default: c = {value, p, q}; break;
  }
  return {c[0] * 255, c[1] * 255, c[2] * 255};
}

Colour muted_colour(SynthRng& rng) {
  double h = rng.uniform(), s = rng.uniform(0.0, 0.45), v = rng.uniform(0.2, 0.95);
  return hsv_colour(h, s, v);
}
Colour vivid_colour(SynthRng& rng) {
  double h = rng.uniform(), s = rng.uniform(0.55, 1.0), v = rng.uniform(0.45, 1.0);
  return hsv_colour(h, s, v);
}
Colour any_colour(SynthRng& rng) {
  double h = rng.uniform(), s = rng.uniform(), v = rng.uniform(0.1, 1.0);
  return hsv_colour(h, s, v);
}

// ---------------------------------------------------------------- background layers

// Value noise on a square lattice of `cell` pixels, turned by a random angle (so no
// axis-aligned blocks show): random values in [0, 1) at the lattice points,
// smoothstep-interpolated in between.
class ValueNoise {
 public:
  ValueNoise(int width, int height, double cell, SynthRng& rng)
      : cell_(cell), offset_(std::hypot(width, height)), side_(static_cast<int>(2 * offset_ / cell) + 2) {
    double angle = rng.uniform(0, 2 * kPi);
    cos_ = std::cos(angle), sin_ = std::sin(angle);
    values_.resize(static_cast<std::size_t>(side_) * side_);
    for (auto& v : values_) v = static_cast<float>(rng.uniform());
  }
  double at(double x, double y) const {
    double gx = (x * cos_ - y * sin_ + offset_) / cell_, gy = (x * sin_ + y * cos_ + offset_) / cell_;
    int ix = std::clamp(static_cast<int>(gx), 0, side_ - 2);
    int iy = std::clamp(static_cast<int>(gy), 0, side_ - 2);
    double fx = smoothstep(0, 1, gx - ix), fy = smoothstep(0, 1, gy - iy);
    const float* row = &values_[static_cast<std::size_t>(iy) * side_ + ix];
    double top = row[0] + (row[1] - row[0]) * fx, bottom = row[side_] + (row[side_ + 1] - row[side_]) * fx;
    return top + (bottom - top) * fy;
  }

 private:
  double cell_, offset_, cos_ = 1, sin_ = 0;
  int side_;
  std::vector<float> values_;
};

// A linear gradient between two muted colours in a random direction.
void fill_gradient(Canvas& canvas, SynthRng& rng) {
  Colour from = muted_colour(rng), to = muted_colour(rng);
  double angle = rng.uniform(0, 2 * kPi), dx = std::cos(angle), dy = std::sin(angle);
  double w = canvas.width, h = canvas.height;
  double lo = std::min({0.0, w * dx, h * dy, w * dx + h * dy});
  double hi = std::max({0.0, w * dx, h * dy, w * dx + h * dy});
  for (int y = 0; y < canvas.height; ++y) {
    for (int x = 0; x < canvas.width; ++x) {
      double t = ((x + 0.5) * dx + (y + 0.5) * dy - lo) / (hi - lo);
      canvas.blend(x, y, mix(from, to, t), 1.0);  // the canvas starts at 0
    }
  }
}

// Large soft patches of a tint colour, then fine-grained brightness texture.
void add_value_noise(Canvas& canvas, SynthRng& rng) {
  ValueNoise patches(canvas.width, canvas.height, rng.uniform(40, 160), rng);
  ValueNoise grain(canvas.width, canvas.height, rng.uniform(6, 24), rng);
  Colour tint = muted_colour(rng);
  double tint_strength = rng.uniform(0.3, 0.85), grain_strength = rng.uniform(0.04, 0.25);
  for (int y = 0; y < canvas.height; ++y) {
    for (int x = 0; x < canvas.width; ++x) {
      float* p = canvas.pixel(x, y);
      double t = smoothstep(0.3, 0.7, patches.at(x + 0.5, y + 0.5)) * tint_strength;
      double gain = 1 + grain_strength * (grain.at(x + 0.5, y + 0.5) - 0.5) * 2;
      for (int c = 0; c < 3; ++c) p[c] = static_cast<float>((p[c] + (tint[c] - p[c]) * t) * gain);
    }
  }
}

// Anti-aliased parallel bands, optionally only where a noise mask is high.
void add_stripes(Canvas& canvas, SynthRng& rng) {
  double angle = rng.uniform(0, kPi), dx = std::cos(angle), dy = std::sin(angle);
  double period = rng.uniform(8, 48), duty = rng.uniform(0.2, 0.6), phase = rng.uniform();
  double strength = rng.uniform(0.15, 0.45);
  Colour colour = any_colour(rng);
  bool masked = rng.uniform() < 0.5;
  ValueNoise mask(canvas.width, canvas.height, rng.uniform(60, 200), rng);
  for (int y = 0; y < canvas.height; ++y) {
    for (int x = 0; x < canvas.width; ++x) {
      double u = ((x + 0.5) * dx + (y + 0.5) * dy) / period + phase;
      double f = u - std::floor(u);
      double inside = f < duty ? std::min(f, duty - f) : -std::min(f - duty, 1 - f);
      double alpha = std::clamp(inside * period + 0.5, 0.0, 1.0) * strength;
      if (masked) alpha *= smoothstep(0.4, 0.6, mask.at(x + 0.5, y + 0.5));
      canvas.blend(x, y, colour, alpha);
    }
  }
}

double distance_to_segment(double px, double py, double x0, double y0, double x1, double y1) {
  double dx = x1 - x0, dy = y1 - y0, length2 = dx * dx + dy * dy;
  double t = length2 > 0 ? std::clamp(((px - x0) * dx + (py - y0) * dy) / length2, 0.0, 1.0) : 0.0;
  double ex = px - (x0 + t * dx), ey = py - (y0 + t * dy);
  return std::sqrt(ex * ex + ey * ey);
}

// An anti-aliased segment of `width` pixels. Walks along the major axis and visits only
// a few pixels across, so long lines cost their length, not their bounding box.
void draw_segment(Canvas& canvas, double x0, double y0, double x1, double y1, double width,
                  const Colour& colour, double alpha) {
  bool steep = std::abs(y1 - y0) > std::abs(x1 - x0);
  // (a, b): (major, minor) axis coordinates
  double a0 = steep ? y0 : x0, b0 = steep ? x0 : y0, a1 = steep ? y1 : x1, b1 = steep ? x1 : y1;
  if (a0 > a1) std::swap(a0, a1), std::swap(b0, b1);
  double reach = width / 2 + 1, slope = a1 > a0 ? (b1 - b0) / (a1 - a0) : 0;
  int major_limit = steep ? canvas.height : canvas.width;
  int first = std::max(0, static_cast<int>(std::floor(a0 - reach)));
  int last = std::min(major_limit - 1, static_cast<int>(std::ceil(a1 + reach)));
  for (int a = first; a <= last; ++a) {
    double centre = b0 + (std::clamp(a + 0.5, a0, a1) - a0) * slope;
    int b_first = static_cast<int>(std::floor(centre - 2 * reach - 1));
    int b_last = static_cast<int>(std::ceil(centre + 2 * reach + 1));
    for (int b = b_first; b <= b_last; ++b) {
      int x = steep ? b : a, y = steep ? a : b;
      double d = distance_to_segment(x + 0.5, y + 0.5, x0, y0, x1, y1);
      canvas.blend(x, y, colour, std::clamp(width / 2 + 0.5 - d, 0.0, 1.0) * alpha);
    }
  }
}

// Random thin straight lines crossing the background.
void draw_clutter_lines(Canvas& canvas, SynthRng& rng) {
  int count = rng.between(3, 24);
  double diagonal = std::hypot(canvas.width, canvas.height);
  for (int i = 0; i < count; ++i) {
    double x0 = rng.uniform(0, canvas.width), y0 = rng.uniform(0, canvas.height);
    double angle = rng.uniform(0, 2 * kPi), length = rng.uniform(0.1, 1.0) * diagonal;
    double width = rng.uniform(0.7, 2.5), alpha = rng.uniform(0.35, 0.9);
    Colour colour = any_colour(rng);
    draw_segment(canvas, x0, y0, x0 + std::cos(angle) * length, y0 + std::sin(angle) * length, width,
                 colour, alpha);
  }
}

// Blends `colour` over pixels [x0, x1) x [y0, y1) by the fraction of 4x4 sub-samples
// where inside(x, y) holds (x, y in continuous pixel coordinates).
template <typename Inside>
void fill_supersampled(Canvas& canvas, double x0, double y0, double x1, double y1, Inside inside,
                       const Colour& colour, double alpha) {
  PixelSpan xs = pixel_span(x0, x1, canvas.width), ys = pixel_span(y0, y1, canvas.height);
  for (int y = ys.first; y < ys.end; ++y) {
    for (int x = xs.first; x < xs.end; ++x) {
      int hits = 0;
      for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 4; ++i) hits += inside(x + (i + 0.5) / 4, y + (j + 0.5) / 4) ? 1 : 0;
      canvas.blend(x, y, colour, alpha * hits / 16.0);
    }
  }
}

// Small blobs that are none of the classes: elongated ellipses (aspect 2.5..5, never
// a circle) and short thick squiggles.
void draw_distractors(Canvas& canvas, SynthRng& rng) {
  int count = rng.between(2, 14);
  double side = std::min(canvas.width, canvas.height);
  for (int i = 0; i < count; ++i) {
    Colour colour = any_colour(rng);
    double alpha = rng.uniform(0.6, 1.0);
    double cx = rng.uniform(0, canvas.width), cy = rng.uniform(0, canvas.height);
    if (rng.uniform() < 0.6) {
      double a = side * rng.uniform(0.015, 0.07), b = a / rng.uniform(2.5, 5.0);
      double angle = rng.uniform(0, kPi), c = std::cos(angle), s = std::sin(angle);
      auto inside = [&](double x, double y) {
        double u = ((x - cx) * c + (y - cy) * s) / a, v = (-(x - cx) * s + (y - cy) * c) / b;
        return u * u + v * v <= 1;
      };
      fill_supersampled(canvas, cx - a, cy - a, cx + a, cy + a, inside, colour, alpha);
    } else {
      double width = rng.uniform(1.5, 4.0), heading = rng.uniform(0, 2 * kPi);
      int segments = rng.between(2, 5);
      for (int k = 0; k < segments; ++k) {
        double step = side * rng.uniform(0.02, 0.06);
        heading += rng.uniform(-1.2, 1.2);
        double nx = cx + std::cos(heading) * step, ny = cy + std::sin(heading) * step;
        draw_segment(canvas, cx, cy, nx, ny, width, colour, alpha);
        cx = nx, cy = ny;
      }
    }
  }
}

// Per-channel uniform noise of +-amplitude, like a camera's.
void add_sensor_noise(Canvas& canvas, SynthRng& rng) {
  double amplitude = rng.uniform(1.0, 4.0);
  for (std::size_t i = 0; i < canvas.rgb.size(); ++i) {
    double u = static_cast<double>(rng.next() >> 40) * 0x1.0p-24;
    canvas.rgb[i] = static_cast<float>(canvas.rgb[i] + (u * 2 - 1) * amplitude);
  }
}

void draw_background(Canvas& canvas, SynthRng& rng) {
  fill_gradient(canvas, rng);
  add_value_noise(canvas, rng);
  if (rng.uniform() < 0.45) add_stripes(canvas, rng);
  draw_clutter_lines(canvas, rng);
  draw_distractors(canvas, rng);
}

// ---------------------------------------------------------------- shapes

struct Point {
  double x, y;
};

// A convex polygon as half-planes: inside where nx*x + ny*y + d >= 0 for every edge,
// (nx, ny) a unit normal, so the value is the distance inside that edge.
struct HalfPlane {
  double nx, ny, d;
};
using ConvexPart = std::vector<HalfPlane>;

// One object before placement: the outline relative to its centre (rotated and
// scaled), and its box offsets from the centre.
struct ShapeDraft {
  int class_id = 0;
  double radius = 0;                        // circumradius, pixels
  std::vector<std::vector<Point>> outline;  // convex parts; empty for circle and ring
  double inner_radius = 0;                  // ring
  double min_x = 0, max_x = 0, min_y = 0, max_y = 0;
};

// A placed shape: a union of convex parts, or (no parts) the annulus
// inner_radius <= |p - centre| <= outer_radius (inner_radius 0: a disc).
struct PlacedShape {
  std::vector<ConvexPart> parts;
  double outer_radius = 0, inner_radius = 0;
  Point centre{};
};

std::vector<Point> regular_polygon(int corners, double first_angle) {
  std::vector<Point> points;
  for (int k = 0; k < corners; ++k) {
    double a = first_angle + 2 * kPi * k / corners;
    points.push_back({std::cos(a), std::sin(a)});
  }
  return points;
}

// Convex parts of a class's outline at circumradius 1, unrotated (y points down).
std::vector<std::vector<Point>> unit_outline(int class_id, SynthRng& rng) {
  switch (class_id) {
    case 1: return {regular_polygon(4, kPi / 4)};                 // square
    case 2: return {regular_polygon(3, -kPi / 2)};                // triangle
    case 4: return {regular_polygon(6, 0)};                       // hexagon
    case 3: {                                                     // star: 5 convex kites
      double inner = rng.uniform(0.38, 0.5);
      std::vector<std::vector<Point>> kites;
      for (int k = 0; k < 5; ++k) {
        double tip = -kPi / 2 + 2 * kPi * k / 5, half = kPi / 5;
        kites.push_back({{0, 0},
                         {inner * std::cos(tip - half), inner * std::sin(tip - half)},
                         {std::cos(tip), std::sin(tip)},
                         {inner * std::cos(tip + half), inner * std::sin(tip + half)}});
      }
      return kites;
    }
    case 5: {  // cross (plus): two overlapping bars
      double w = rng.uniform(0.24, 0.34);
      return {{{-w, -1}, {w, -1}, {w, 1}, {-w, 1}}, {{-1, -w}, {1, -w}, {1, w}, {-1, w}}};
    }
    case 7: {  // diamond: a rhombus taller than wide
      double w = rng.uniform(0.5, 0.68);
      return {{{0, -1}, {w, 0}, {0, 1}, {-w, 0}}};
    }
    default: return {};  // 0 circle, 6 ring
  }
}

ShapeDraft draft_shape(int class_id, double radius, SynthRng& rng) {
  ShapeDraft draft;
  draft.class_id = class_id;
  draft.radius = radius;
  auto unit = unit_outline(class_id, rng);
  if (unit.empty()) {
    draft.inner_radius = class_id == 6 ? radius * rng.uniform(0.45, 0.65) : 0.0;
    draft.min_x = draft.min_y = -radius;
    draft.max_x = draft.max_y = radius;
    return draft;
  }
  double angle = rng.uniform(0, 2 * kPi), c = std::cos(angle), s = std::sin(angle);
  draft.min_x = draft.min_y = radius;
  draft.max_x = draft.max_y = -radius;
  for (const auto& part : unit) {
    std::vector<Point> points;
    for (const Point& p : part) {
      Point q{(p.x * c - p.y * s) * radius, (p.x * s + p.y * c) * radius};
      draft.min_x = std::min(draft.min_x, q.x), draft.max_x = std::max(draft.max_x, q.x);
      draft.min_y = std::min(draft.min_y, q.y), draft.max_y = std::max(draft.max_y, q.y);
      points.push_back(q);
    }
    draft.outline.push_back(std::move(points));
  }
  return draft;
}

ConvexPart half_planes(const std::vector<Point>& points) {
  Point mid{0, 0};
  for (const Point& p : points) mid.x += p.x / points.size(), mid.y += p.y / points.size();
  ConvexPart part;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const Point& a = points[i];
    const Point& b = points[(i + 1) % points.size()];
    double nx = -(b.y - a.y), ny = b.x - a.x, length = std::hypot(nx, ny);
    nx /= length, ny /= length;
    if (nx * (mid.x - a.x) + ny * (mid.y - a.y) < 0) nx = -nx, ny = -ny;
    part.push_back({nx, ny, -(nx * a.x + ny * a.y)});
  }
  return part;
}

PlacedShape place_shape(const ShapeDraft& draft, Point centre) {
  PlacedShape shape;
  shape.outer_radius = draft.radius;
  shape.inner_radius = draft.inner_radius;
  shape.centre = centre;
  for (const auto& outline : draft.outline) {
    std::vector<Point> points;
    for (const Point& p : outline) points.push_back({p.x + centre.x, p.y + centre.y});
    shape.parts.push_back(half_planes(points));
  }
  return shape;
}

// Signed distance-like margin of (x, y) inside the shape: > 0 inside. Exact distance
// for one convex part's edge lines; enough to classify whole pixels conservatively.
double inside_margin(const PlacedShape& shape, double x, double y) {
  if (shape.parts.empty()) {
    double r = std::hypot(x - shape.centre.x, y - shape.centre.y);
    double margin = shape.outer_radius - r;
    return shape.inner_radius > 0 ? std::min(margin, r - shape.inner_radius) : margin;
  }
  double best = -1e30;
  for (const auto& part : shape.parts) {
    double m = 1e30;
    for (const auto& e : part) m = std::min(m, e.nx * x + e.ny * y + e.d);
    best = std::max(best, m);
  }
  return best;
}

// Fraction of pixel (px, py) covered: decided from its centre when the edge is more
// than half a pixel diagonal away, else counted on 4x4 sub-samples.
double pixel_coverage(const PlacedShape& shape, int px, int py) {
  double m = inside_margin(shape, px + 0.5, py + 0.5);
  if (m >= 0.75) return 1;
  if (m <= -0.75) return 0;
  int hits = 0;
  for (int j = 0; j < 4; ++j)
    for (int i = 0; i < 4; ++i) hits += inside_margin(shape, px + (i + 0.5) / 4, py + (j + 0.5) / 4) >= 0;
  return hits / 16.0;
}

// Fills the shape with `colour`, lit by a gentle linear shading (factor 1 at the centre).
void draw_shape(Canvas& canvas, const ShapeDraft& draft, const PlacedShape& shape, const Colour& colour,
                SynthRng& rng) {
  double angle = rng.uniform(0, 2 * kPi), amount = rng.uniform(0.0, 0.12);
  double sx = std::cos(angle) * amount / draft.radius, sy = std::sin(angle) * amount / draft.radius;
  const Point& c = shape.centre;
  PixelSpan xs = pixel_span(c.x + draft.min_x, c.x + draft.max_x, canvas.width);
  PixelSpan ys = pixel_span(c.y + draft.min_y, c.y + draft.max_y, canvas.height);
  for (int y = ys.first; y < ys.end; ++y) {
    for (int x = xs.first; x < xs.end; ++x) {
      double coverage = pixel_coverage(shape, x, y);
      if (coverage <= 0) continue;
      double light = 1 + (x + 0.5 - c.x) * sx + (y + 0.5 - c.y) * sy;
      Colour lit{std::min(255.0, colour[0] * light), std::min(255.0, colour[1] * light),
                 std::min(255.0, colour[2] * light)};
      canvas.blend(x, y, lit, coverage);
    }
  }
}

// ---------------------------------------------------------------- placement

struct Box {
  double x0, y0, x1, y1;
  double area() const { return (x1 - x0) * (y1 - y0); }
};

double intersection(const Box& a, const Box& b) {
  double w = std::min(a.x1, b.x1) - std::max(a.x0, b.x0), h = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
  return w > 0 && h > 0 ? w * h : 0.0;
}

// A new box may overlap earlier ones a little: IoU <= kSynthMaxIou, and it may hide
// at most kMaxCoveredFraction of any earlier box (a small shape under a big one would
// otherwise vanish while its label stays).
bool overlap_allowed(const Box& box, const std::vector<SynthObject>& earlier) {
  for (const auto& o : earlier) {
    Box other{o.x0, o.y0, o.x1, o.y1};
    double inter = intersection(box, other);
    if (inter / (box.area() + other.area() - inter) > kSynthMaxIou) return false;
    if (inter / other.area() > kMaxCoveredFraction) return false;
  }
  return true;
}

// Mean colour of the canvas over a box (every second pixel).
Colour mean_colour(const Canvas& canvas, const Box& box) {
  Colour sum{0, 0, 0};
  int n = 0;
  PixelSpan xs = pixel_span(box.x0, box.x1, canvas.width), ys = pixel_span(box.y0, box.y1, canvas.height);
  for (int y = ys.first; y < ys.end; y += 2) {
    for (int x = xs.first; x < xs.end; x += 2) {
      const float* p = &canvas.rgb[(static_cast<std::size_t>(y) * canvas.width + x) * 3];
      for (int c = 0; c < 3; ++c) sum[c] += p[c];
      ++n;
    }
  }
  return n == 0 ? sum : Colour{sum[0] / n, sum[1] / n, sum[2] / n};
}

// A vivid colour far from `background` (the best of a few tries), on whole RGB steps so
// that SynthObject::rgb is exactly the fill colour.
Colour contrasting_colour(SynthRng& rng, const Colour& background) {
  Colour best{};
  double best_distance = -1;
  for (int attempt = 0; attempt < 16 && best_distance < kMinContrast; ++attempt) {
    Colour candidate = vivid_colour(rng);
    for (double& v : candidate) v = std::round(v);
    double d = distance(candidate, background);
    if (d > best_distance) best = candidate, best_distance = d;
  }
  return best;
}

// Draws a random size/rotation of `class_id` at a random spot where the overlap limits
// hold; shrinks after every 20 failed spots (not below the minimum size); gives up
// (nothing drawn) after kPlacementAttempts.
void add_object(Canvas& canvas, SynthRng& rng, int class_id, std::vector<SynthObject>& objects) {
  double side = std::min(canvas.width, canvas.height);
  double diameter = side * std::exp(rng.uniform(std::log(kMinSizeFraction), std::log(kMaxSizeFraction)));
  double min_radius = side * kMinSizeFraction / 2;
  ShapeDraft draft = draft_shape(class_id, diameter / 2, rng);
  for (int attempt = 0; attempt < kPlacementAttempts; ++attempt) {
    if (attempt > 0 && attempt % 20 == 0) {
      draft = draft_shape(class_id, std::max(draft.radius * 0.75, min_radius), rng);
    }
    // keep the box one pixel inside the image
    double cx = rng.uniform(1 - draft.min_x, canvas.width - 1 - draft.max_x);
    double cy = rng.uniform(1 - draft.min_y, canvas.height - 1 - draft.max_y);
    Box box{cx + draft.min_x, cy + draft.min_y, cx + draft.max_x, cy + draft.max_y};
    if (!overlap_allowed(box, objects)) continue;
    Colour colour = contrasting_colour(rng, mean_colour(canvas, box));
    draw_shape(canvas, draft, place_shape(draft, {cx, cy}), colour, rng);
    auto byte = [](double v) { return static_cast<std::uint8_t>(v); };
    objects.push_back({class_id, box.x0, box.y0, box.x1, box.y1, cx, cy,
                       {byte(colour[0]), byte(colour[1]), byte(colour[2])}});
    return;
  }
}

// Width and height in [kSynthMinSide, kSynthMaxSide], aspect ratio in [1/2, 2].
void choose_image_size(SynthRng& rng, int& width, int& height) {
  double aspect = std::exp(rng.uniform(std::log(0.5), std::log(2.0)));  // width / height
  double ratio = std::max(aspect, 1 / aspect);
  double shorter = rng.uniform(kSynthMinSide, kSynthMaxSide / ratio);
  int short_side = static_cast<int>(std::lround(shorter));
  int long_side = std::clamp(static_cast<int>(std::lround(shorter * ratio)), short_side, kSynthMaxSide);
  width = aspect >= 1 ? long_side : short_side;
  height = aspect >= 1 ? short_side : long_side;
}

std::uint8_t to_byte(float v) { return static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0f, 255.0f))); }

}  // namespace

SynthScene render_synthetic_scene(std::uint64_t seed, int classes) {
  if (classes < 1 || classes > kSynthMaxClasses) {
    fail_user("synthetic datasets have 1 to {} classes, not {}", kSynthMaxClasses, classes);
  }
  SynthRng rng(seed);
  Canvas canvas;
  choose_image_size(rng, canvas.width, canvas.height);
  canvas.rgb.resize(static_cast<std::size_t>(canvas.width) * canvas.height * 3);
  draw_background(canvas, rng);

  SynthScene scene;
  int count = rng.uniform() < kBackgroundFraction ? 0 : rng.between(1, kSynthMaxObjects);
  for (int i = 0; i < count; ++i) add_object(canvas, rng, rng.below(classes), scene.objects);
  add_sensor_noise(canvas, rng);

  scene.image.width = canvas.width;
  scene.image.height = canvas.height;
  scene.image.pixels.resize(canvas.rgb.size());
  std::transform(canvas.rgb.begin(), canvas.rgb.end(), scene.image.pixels.begin(), to_byte);
  return scene;
}

std::string format_yolo_labels(const SynthScene& scene) {
  std::string text;
  double w = scene.image.width, h = scene.image.height;
  for (const auto& o : scene.objects) {
    text += fmt::format("{} {:.6f} {:.6f} {:.6f} {:.6f}\n", o.class_id, (o.x0 + o.x1) / 2 / w,
                        (o.y0 + o.y1) / 2 / h, (o.x1 - o.x0) / w, (o.y1 - o.y0) / h);
  }
  return text;
}

}  // namespace shrike::data
