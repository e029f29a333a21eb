// pipeline/train/box_drawing.h
//
// Annotated images for `shrike predict --save-images`: each detection's rectangle in a
// per-class colour (the reference's Ultralytics 8.3 `Colors` palette, 20 colours
// cycled by class index), a filled label band above the box (inside it when there is
// no room above) holding "name 0.87" (score to two decimals, as the reference labels),
// written as JPEG. Line width as the reference's Annotator: max(round((h + w) / 2 *
// 0.003), 2) pixels.
//
// Text is drawn with a tiny built-in 5x7 bitmap font (printable ASCII; other bytes
// become '?'), scaled by whole pixels. No font library: FreeType and font files are
// not installed on compute nodes (nor in our containers), a shipped TTF would need
// its own licence and lookup path, and a bitmap font gives identical bytes on every
// machine, which the tests rely on. Class names are short labels; 5x7 is enough.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "pipeline/data/image_codec.h"
#include "pipeline/train/predictor.h"

namespace shrike::train {

using Rgb = std::array<std::uint8_t, 3>;

// The reference's palette colour of class `cls` (cycled; negative classes use |cls|).
Rgb class_colour(int cls);
// Black or white, whichever reads better on `background` (luma threshold).
Rgb text_colour_on(Rgb background);

// The reference's Annotator line width for an (height, width) image.
int annotation_line_width(int height, int width);

// Glyph size of the built-in font at scale 1: 5 x 7 pixels, advance 6.
inline constexpr int kGlyphWidth = 5, kGlyphHeight = 7, kGlyphAdvance = 6;
// Width in pixels of `text` at `scale` (no trailing spacing).
int text_width(std::string_view text, int scale);

// image: (height, width, 3) RGB, drawn in place; everything is clipped to the image.
// Rectangle outline of `thickness` pixels inward from corners (x1, y1)-(x2, y2).
void draw_rectangle(data::RgbImage& image, int x1, int y1, int x2, int y2, int thickness, Rgb colour);
void fill_rectangle(data::RgbImage& image, int x1, int y1, int x2, int y2, Rgb colour);  // [x1, x2) x [y1, y2)
// Draws `text` with its top-left corner at (x, y).
void draw_text(data::RgbImage& image, int x, int y, std::string_view text, int scale, Rgb colour);

// All detections (boxes in the image's pixels), boxes first, then labels on top.
void draw_detections(data::RgbImage& image, std::span<const NamedDetection> detections);

// Writes `image` annotated with `detections` as a JPEG (quality 90), creating the parent
// folder. Throws UserError naming the path when it cannot be written.
void write_annotated_jpeg(const std::filesystem::path& path, const data::RgbImage& image,
                          std::span<const NamedDetection> detections);

}  // namespace shrike::train
