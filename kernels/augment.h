// kernels/augment.h
//
// The pixel operations of training-time augmentation on 8-bit interleaved RGB images
// (HWC, C = 3): the geometric warp, the HSV colour jitter, flips, letterbox and mosaic
// tile placement. These are the CPU references; CUDA twins (augment.cu, later) must give
// the same bytes, so every op is written as per-pixel float or integer arithmetic with
// no library calls. The geometry and conventions are those of the OpenCV calls the
// reference trainer makes (Ultralytics 8.3 ultralytics/data/augment.py); the deviations
// are named at each function. Nothing here knows about boxes or random numbers:
// pipeline/data/augment.cpp draws the parameters and moves the labels.
#pragma once

#include <array>
#include <cstdint>

#include "kernels/resize.h"

namespace shrike::kernels {

// The grey the reference pads with (letterbox, mosaic canvas, warp border).
inline constexpr std::uint8_t kPadValue = 114;

// ---- warp (cv2.warpAffine / cv2.warpPerspective) ------------------------------------

// Row-major 3x3 matrix mapping an output pixel (x, y, 1) to a source point (X, Y, W):
// the inverse of the forward matrix the reference hands to OpenCV (OpenCV inverts it
// internally unless WARP_INVERSE_MAP is set). Pixel centres are at integer
// coordinates, as in OpenCV's warps (no half-pixel shift).
using Matrix3 = std::array<double, 9>;

// a * b (3x3, row-major).
Matrix3 matmul3(const Matrix3& a, const Matrix3& b);
// The inverse of m; std::invalid_argument when m is singular.
Matrix3 invert3(const Matrix3& m);

// dst: (dst_shape.height, dst_shape.width, 3) uint8; src: (src_shape.height,
// src_shape.width, 3) uint8. dst(x, y) = bilinear sample of src at inverse * (x, y, 1):
// affine (X, Y) when `perspective` is false (warpAffine reads only the top two rows),
// else (X/W, Y/W) with W = 0 mapping to 0 as OpenCV does. A tap outside src reads
// `border` (BORDER_CONSTANT). Weights and sums are float, rounded to nearest; OpenCV
// quantises positions to 1/32 pixel and weights to 15 bits, so a value may differ from
// cv2 by one or two levels (the geometry is the same).
void warp_u8_cpu(std::uint8_t* dst, ImageShape dst_shape, const std::uint8_t* src, ImageShape src_shape,
                 const Matrix3& inverse, bool perspective, std::uint8_t border = kPadValue);

// ---- HSV jitter (RandomHSV) ------------------------------------------------------------

// The three lookup tables of one RandomHSV call in OpenCV's 8-bit HSV (H in 0..179, S and
// V in 0..255), for gains r = (rh, rs, rv) drawn in [-hgain, hgain] etc. (8.3.79+ rule):
//   hue[x] = uint8((x + rh*180) mod 180)   (numpy float remainder, then truncation)
//   sat[x] = uint8(clip(x * (1 + rs), 0, 255)), sat[0] = 0
//   val[x] = uint8(clip(x * (1 + rv), 0, 255))
struct HsvTables {
  std::array<std::uint8_t, 256> hue, sat, val;
};
HsvTables hsv_tables(double rh, double rs, double rv);

// OpenCV's COLOR_RGB2HSV for one 8-bit pixel (12-bit fixed point, hrange 180).
std::array<std::uint8_t, 3> rgb_to_hsv_u8(std::uint8_t r, std::uint8_t g, std::uint8_t b);
// OpenCV's COLOR_HSV2RGB for one 8-bit pixel: float math, truncated to 8 bits as
// OpenCV's vectorised path does (its scalar tail, at most 15 pixels a row, rounds).
std::array<std::uint8_t, 3> hsv_to_rgb_u8(std::uint8_t h, std::uint8_t s, std::uint8_t v);

// image: (height, width, 3) RGB, in place: RGB -> HSV, tables, HSV -> RGB.
void hsv_jitter_u8_cpu(std::uint8_t* image, int height, int width, const HsvTables& tables);

// ---- flips ------------------------------------------------------------------------------

// image: (height, width, 3), in place. Left-right mirrors columns, up-down mirrors rows.
void flip_lr_u8_cpu(std::uint8_t* image, int height, int width);
void flip_ud_u8_cpu(std::uint8_t* image, int height, int width);

// ---- letterbox (LetterBox) ------------------------------------------------------------

// Where an (src_h, src_w) image lands in an (out_h, out_w) canvas:
//   ratio = min(out_h/src_h, out_w/src_w), capped at 1 without `scaleup`;
//   resized = (round(src_h*ratio), round(src_w*ratio)) (round half to even, as Python);
//   dh, dw = (out - resized) / 2; top = round(dh - 0.1), bottom = round(dh + 0.1), same
//   for left/right. The reference moves labels by (left, top) (8.3; earlier by dw, dh).
struct LetterboxGeometry {
  double ratio = 1.0;
  int resized_h = 0, resized_w = 0;
  int top = 0, bottom = 0, left = 0, right = 0;
  int out_h = 0, out_w = 0;  // top + resized_h + bottom, left + resized_w + right
};
LetterboxGeometry letterbox_geometry(int src_h, int src_w, int out_h, int out_w, bool scaleup);

// dst: (geometry.out_h, geometry.out_w, 3); src: (src_h, src_w, 3). Resizes (bilinear,
// kernels/resize.h) when the size changes, pads with `pad`.
void letterbox_u8_cpu(std::uint8_t* dst, const LetterboxGeometry& geometry, const std::uint8_t* src, int src_h,
                      int src_w, std::uint8_t pad = kPadValue);

// ---- mosaic tiles (Mosaic._mosaic4) -----------------------------------------------------

// Where tile `tile` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of size
// (h, w) goes in the (2s, 2s) canvas around the centre (xc, yc): canvas rectangle
// [x1a, x2a) x [y1a, y2a) takes image rectangle starting at (x1b, y1b); labels move by
// (padw, padh) = (x1a - x1b, y1a - y1b). Exactly the reference's coordinates.
struct MosaicTile {
  int x1a, y1a, x2a, y2a;
  int x1b, y1b;
  int padw() const { return x1a - x1b; }
  int padh() const { return y1a - y1b; }
};
MosaicTile mosaic_tile(int tile, int xc, int yc, int h, int w, int s);

// canvas: (2s, 2s, 3); image: (h, w, 3). Copies the tile's rectangle.
void mosaic_place_u8_cpu(std::uint8_t* canvas, int s, const std::uint8_t* image, int h, int w,
                         const MosaicTile& tile);

}  // namespace shrike::kernels
