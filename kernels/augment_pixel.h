// kernels/augment_pixel.h
//
// The per-pixel arithmetic of the augmentation ops (kernels/augment.h), shared by the
// CPU references (augment_cpu.cpp) and the CUDA kernels (augment.cu) so both give the
// same bytes. Every float expression that a compiler could contract into a fused
// multiply-add is written with the round-to-nearest operations of exact_float.h; bilinear
// taps and blends are resize_sampling.h's. The CPU bytes are those of the code before
// this header existed.
// Also here: the parameters of one training image for the fused batch kernel
// (AugmentSample, filled by pipeline/data from a TrainRecipe) and the per-pixel path
// through them (sample_pixel), so the fused kernel's logic also runs, and is tested, on
// the host.
#pragma once

#include <math.h>

#include <cstddef>
#include <cstdint>

#include "kernels/augment.h"          // MosaicTile, kPadValue
#include "kernels/exact_float.h"      // mul_rn, add_rn, ...
#include "kernels/resize_sampling.h"  // LinearTap, linear_tap, blend_u8

namespace shrike::kernels {

// ---- the parameters of one training image, for the fused batch kernel ----------------------

// One source image inside a packed sources buffer.
struct AugmentSource {
  std::uint64_t offset = 0;  // byte offset of its (height, width, 3) pixels
  int height = 0, width = 0;
};

// Compose(Mosaic | LetterBox, RandomPerspective) of the reference, for one image:
// a canvas (mosaic: four sources placed by `tiles` on a (2s, 2s) canvas of 114; else
// sources[0] letterboxed into (canvas_h, canvas_w) at (top, left) as
// (resized_h, resized_w), pad 114), then, when `warp`, warp_u8 of the canvas by `inverse`
// (border 114) into the (s, s) output; without `warp` the canvas is the output.
struct AugmentComposite {
  int mosaic = 0;
  int canvas_h = 0, canvas_w = 0;
  AugmentSource sources[4];
  MosaicTile tiles[4] = {};
  int top = 0, left = 0, resized_h = 0, resized_w = 0;
  int warp = 0;
  int perspective = 0;
  float inverse[9] = {};  // row-major, the float values warp_u8_cpu computes with
};

// One training image: image (and partner, mixed with MixUp's ratio when `mixup`), then
// RandomHSV through the three tables when `hsv`, then up-down and left-right flips.
struct AugmentSample {
  AugmentComposite image, partner;
  int mixup = 0;
  double mixup_ratio = 0.0;
  int hsv = 0;
  std::uint8_t hue[256] = {}, sat[256] = {}, val[256] = {};
  int flip_ud = 0, flip_lr = 0;
};

}  // namespace shrike::kernels

namespace shrike::kernels::pixel {

// ---- warp -------------------------------------------------------------------------------------

// The source point of output pixel (x, y) under the row-major float inverse matrix m:
// affine (m0 x + m1 y + m2, m3 x + m4 y + m5), divided by w = m6 x + m7 y + m8 (1/w,
// 0 when w is 0, as OpenCV) with `perspective`.
SHRIKE_HOST_DEVICE inline void warp_point(const float* m, int x, int y, bool perspective, float* sx, float* sy) {
  const float fx = static_cast<float>(x), fy = static_cast<float>(y);
  float px = add_rn(add_rn(mul_rn(m[0], fx), mul_rn(m[1], fy)), m[2]);
  float py = add_rn(add_rn(mul_rn(m[3], fx), mul_rn(m[4], fy)), m[5]);
  if (perspective) {
    float w = add_rn(add_rn(mul_rn(m[6], fx), mul_rn(m[7], fy)), m[8]);
    w = w != 0.0f ? div_rn(1.0f, w) : 0.0f;
    px = mul_rn(px, w);
    py = mul_rn(py, w);
  }
  *sx = px;
  *sy = py;
}

// Where a bilinear sample at (sx, sy) of a (height, width) image reads: taps
// (x0, y0) .. (x0 + 1, y0 + 1) with weights (wx, wy); `outside` when every tap lies
// outside the image (also for NaN), so the sample is the border value.
struct BilinearTaps {
  int x0, y0;
  float wx, wy;
  bool outside;
};
SHRIKE_HOST_DEVICE inline BilinearTaps bilinear_taps(float sx, float sy, int height, int width) {
  BilinearTaps t{0, 0, 0.0f, 0.0f, false};
  if (!(sx > -1.0f && sy > -1.0f && sx < static_cast<float>(width) && sy < static_cast<float>(height))) {
    t.outside = true;
    return t;
  }
  const float fx0 = floorf(sx), fy0 = floorf(sy);
  t.x0 = static_cast<int>(fx0);
  t.y0 = static_cast<int>(fy0);
  t.wx = sub_rn(sx, fx0);
  t.wy = sub_rn(sy, fy0);
  return t;
}

// ---- HSV (OpenCV's 8-bit RGB2HSV_b / HSV2RGB_b) ---------------------------------------------

inline constexpr int kHsvShift = 12;

// round(n / d) with ties to even, for n >= 0, d > 0: the value saturate_cast<int>(double)
// gives for OpenCV's table entries (every quotient here is exact enough in double that
// the integer rule and nearbyint(n / (1.0 * d)) agree; the unit test checks all 256).
SHRIKE_HOST_DEVICE inline int round_div_even(int n, int d) {
  const int q = n / d, r = n % d;
  if (2 * r > d) return q + 1;
  if (2 * r == d) return q + (q & 1);
  return q;
}
// OpenCV's sdiv_table[v] = round((255 << 12) / v) and hdiv_table180[d] = round((180 << 12) / (6 d)).
SHRIKE_HOST_DEVICE inline int hsv_sdiv(int v) { return v == 0 ? 0 : round_div_even(255 << kHsvShift, v); }
SHRIKE_HOST_DEVICE inline int hsv_hdiv180(int d) { return d == 0 ? 0 : round_div_even(180 << kHsvShift, 6 * d); }

// COLOR_RGB2HSV of one pixel with the two 256-entry tables above.
SHRIKE_HOST_DEVICE inline void rgb_to_hsv(int r, int g, int b, const int* sdiv, const int* hdiv180, std::uint8_t* hsv) {
  const int v = r > g ? (r > b ? r : b) : (g > b ? g : b);
  const int vmin = r < g ? (r < b ? r : b) : (g < b ? g : b);
  const int diff = v - vmin;
  const int vr = v == r ? -1 : 0;
  const int vg = v == g ? -1 : 0;
  const int s = (diff * sdiv[v] + (1 << (kHsvShift - 1))) >> kHsvShift;
  int h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + ((~vg) & (r - g + 4 * diff))));
  h = (h * hdiv180[diff] + (1 << (kHsvShift - 1))) >> kHsvShift;
  h += h < 0 ? 180 : 0;
  hsv[0] = static_cast<std::uint8_t>(h < 0 ? 0 : (h > 255 ? 255 : h));
  hsv[1] = static_cast<std::uint8_t>(s);
  hsv[2] = static_cast<std::uint8_t>(v);
}

// 6/180, 1/255 and 1/6 rounded to float (augment_cpu.cpp checks them against the
// compiler's own division).
inline constexpr float kHueScale = 0x1.111112p-5f;
inline constexpr float kInv255 = 0x1.010102p-8f;
inline constexpr float kInv6 = 0x1.555556p-3f;

SHRIKE_HOST_DEVICE inline std::uint8_t unit_to_u8(float x) {
  const int scaled = static_cast<int>(mul_rn(x, 255.0f));
  return static_cast<std::uint8_t>(scaled < 0 ? 0 : (scaled > 255 ? 255 : scaled));
}

// COLOR_HSV2RGB of one pixel as OpenCV's vectorised float path: sector = trunc(h * 6/180)
// mod 6, tab = (v, v(1-s), v(1-s f), v(1-s(1-f))), each * 255 truncated.
SHRIKE_HOST_DEVICE inline void hsv_to_rgb(int h8, int s8, int v8, std::uint8_t* rgb) {
  const float h = mul_rn(static_cast<float>(h8), kHueScale);
  const float s = mul_rn(static_cast<float>(s8), kInv255);
  const float v = mul_rn(static_cast<float>(v8), kInv255);
  const float pre_sector = truncf(h);
  const float frac = sub_rn(h, pre_sector);
  const float tab0 = v;
  const float tab1 = mul_rn(v, sub_rn(1.0f, s));
  const float tab2 = mul_rn(v, sub_rn(1.0f, mul_rn(s, frac)));
  const float tab3 = mul_rn(v, sub_rn(1.0f, mul_rn(s, sub_rn(1.0f, frac))));
  int sector = static_cast<int>(sub_rn(pre_sector, mul_rn(truncf(mul_rn(pre_sector, kInv6)), 6.0f)));
  sector = sector < 0 ? 0 : (sector > 5 ? 5 : sector);
  // OpenCV's sector_data: (b, g, r) as indices into tab, per sector.
  float b, g, r;
  switch (sector) {
    case 0: b = tab1, g = tab3, r = tab0; break;
    case 1: b = tab1, g = tab0, r = tab2; break;
    case 2: b = tab3, g = tab0, r = tab1; break;
    case 3: b = tab0, g = tab2, r = tab1; break;
    case 4: b = tab0, g = tab1, r = tab3; break;
    default: b = tab2, g = tab1, r = tab0; break;
  }
  rgb[0] = unit_to_u8(r);
  rgb[1] = unit_to_u8(g);
  rgb[2] = unit_to_u8(b);
}

// One RandomHSV pixel in place: RGB -> HSV, the three lookup tables, HSV -> RGB.
SHRIKE_HOST_DEVICE inline void hsv_jitter_pixel(std::uint8_t* p, const std::uint8_t* hue, const std::uint8_t* sat,
                                                const std::uint8_t* val, const int* sdiv, const int* hdiv180) {
  std::uint8_t hsv[3];
  rgb_to_hsv(p[0], p[1], p[2], sdiv, hdiv180, hsv);
  hsv_to_rgb(hue[hsv[0]], sat[hsv[1]], val[hsv[2]], p);
}

// ---- mixup ------------------------------------------------------------------------------------

// MixUp: a * r + b * (1 - r) in double, truncated to 8 bits.
SHRIKE_HOST_DEVICE inline std::uint8_t mix_u8(std::uint8_t a, std::uint8_t b, double r) {
  return static_cast<std::uint8_t>(add_rn(mul_rn(static_cast<double>(a), r), mul_rn(static_cast<double>(b), 1.0 - r)));
}

// ---- whole pixels (3 channels) --------------------------------------------------------------

SHRIKE_HOST_DEVICE inline void fill3(std::uint8_t* out, std::uint8_t value) { out[0] = out[1] = out[2] = value; }

SHRIKE_HOST_DEVICE inline void copy3(std::uint8_t* out, const std::uint8_t* in) {
  out[0] = in[0], out[1] = in[1], out[2] = in[2];
}

// Pixel (x, y) of a (height, width, 3) image, or `border` outside it.
SHRIKE_HOST_DEVICE inline void image_tap(std::uint8_t* out, const std::uint8_t* image, int height, int width, int x,
                                         int y, std::uint8_t border) {
  if (x < 0 || y < 0 || x >= width || y >= height) {
    fill3(out, border);
  } else {
    copy3(out, image + (static_cast<std::size_t>(y) * width + x) * 3);
  }
}

// The bilinear blend of four taps, per channel.
SHRIKE_HOST_DEVICE inline void blend3(std::uint8_t* out, const std::uint8_t* tl, const std::uint8_t* tr,
                                      const std::uint8_t* bl, const std::uint8_t* br, float wx, float wy) {
  for (int c = 0; c < 3; ++c) out[c] = blend_u8(tl[c], tr[c], bl[c], br[c], wx, wy);
}

// Pixel (x, y) of src (src_h, src_w) resized bilinearly to (dst_h, dst_w): the value
// resize_bilinear_u8_cpu gives (a copy at equal sizes).
SHRIKE_HOST_DEVICE inline void resized_pixel(std::uint8_t* out, const std::uint8_t* src, int src_h, int src_w,
                                             int dst_h, int dst_w, int x, int y) {
  if (src_h == dst_h && src_w == dst_w) {
    copy3(out, src + (static_cast<std::size_t>(y) * src_w + x) * 3);
    return;
  }
  const LinearTap column = linear_tap(x, src_w, dst_w);
  const LinearTap row = linear_tap(y, src_h, dst_h);
  const std::size_t src_row = static_cast<std::size_t>(src_w) * 3;
  const std::uint8_t* top = src + static_cast<std::size_t>(row.index0) * src_row;
  const std::uint8_t* bottom = src + static_cast<std::size_t>(row.index1) * src_row;
  const std::size_t left = static_cast<std::size_t>(column.index0) * 3;
  const std::size_t right = static_cast<std::size_t>(column.index1) * 3;
  blend3(out, top + left, top + right, bottom + left, bottom + right, column.weight1, row.weight1);
}

// Pixel (x, y) of a letterbox canvas: src resized to (resized_h, resized_w) at (top,
// left), `pad` around it (letterbox_u8_cpu's value).
SHRIKE_HOST_DEVICE inline void letterbox_pixel(std::uint8_t* out, const std::uint8_t* src, int src_h, int src_w,
                                               int top, int left, int resized_h, int resized_w, std::uint8_t pad,
                                               int x, int y) {
  const int bx = x - left, by = y - top;
  if (bx < 0 || by < 0 || bx >= resized_w || by >= resized_h) {
    fill3(out, pad);
  } else {
    resized_pixel(out, src, src_h, src_w, resized_h, resized_w, bx, by);
  }
}

// Pixel (x, y) of output pixel (x, y) of warp_u8_cpu(src, inverse m, perspective, border).
SHRIKE_HOST_DEVICE inline void warp_pixel(std::uint8_t* out, const std::uint8_t* src, int src_h, int src_w,
                                          const float* m, bool perspective, std::uint8_t border, int x, int y) {
  float sx, sy;
  warp_point(m, x, y, perspective, &sx, &sy);
  const BilinearTaps t = bilinear_taps(sx, sy, src_h, src_w);
  if (t.outside) {
    fill3(out, border);
    return;
  }
  std::uint8_t tl[3], tr[3], bl[3], br[3];
  image_tap(tl, src, src_h, src_w, t.x0, t.y0, border);
  image_tap(tr, src, src_h, src_w, t.x0 + 1, t.y0, border);
  image_tap(bl, src, src_h, src_w, t.x0, t.y0 + 1, border);
  image_tap(br, src, src_h, src_w, t.x0 + 1, t.y0 + 1, border);
  blend3(out, tl, tr, bl, br, t.wx, t.wy);
}

// ---- the fused per-pixel path of one AugmentSample -------------------------------------------

// Pixel (x, y) of a composite's canvas, 114 outside it: what mosaic_place_u8_cpu on a
// canvas of 114, or letterbox_u8_cpu, leaves there.
SHRIKE_HOST_DEVICE inline void canvas_pixel(std::uint8_t* out, const AugmentComposite& c, const std::uint8_t* sources,
                                            int x, int y) {
  if (x < 0 || y < 0 || x >= c.canvas_w || y >= c.canvas_h) {
    fill3(out, kPadValue);
    return;
  }
  if (!c.mosaic) {
    const AugmentSource& s = c.sources[0];
    letterbox_pixel(out, sources + s.offset, s.height, s.width, c.top, c.left, c.resized_h, c.resized_w, kPadValue, x,
                    y);
    return;
  }
  for (int k = 3; k >= 0; --k) {  // the last placed tile wins, as on the CPU (they do not overlap)
    const MosaicTile& t = c.tiles[k];
    if (x >= t.x1a && x < t.x2a && y >= t.y1a && y < t.y2a) {
      const AugmentSource& s = c.sources[k];
      copy3(out, sources + s.offset +
                     (static_cast<std::size_t>(t.y1b + (y - t.y1a)) * s.width + t.x1b + (x - t.x1a)) * 3);
      return;
    }
  }
  fill3(out, kPadValue);
}

// Output pixel (x, y) of a composite: the canvas warped (border 114), or the canvas itself.
SHRIKE_HOST_DEVICE inline void composite_pixel(std::uint8_t* out, const AugmentComposite& c,
                                               const std::uint8_t* sources, int x, int y) {
  if (!c.warp) {
    canvas_pixel(out, c, sources, x, y);
    return;
  }
  float sx, sy;
  warp_point(c.inverse, x, y, c.perspective != 0, &sx, &sy);
  const BilinearTaps t = bilinear_taps(sx, sy, c.canvas_h, c.canvas_w);
  if (t.outside) {
    fill3(out, kPadValue);
    return;
  }
  std::uint8_t tl[3], tr[3], bl[3], br[3];
  canvas_pixel(tl, c, sources, t.x0, t.y0);
  canvas_pixel(tr, c, sources, t.x0 + 1, t.y0);
  canvas_pixel(bl, c, sources, t.x0, t.y0 + 1);
  canvas_pixel(br, c, sources, t.x0 + 1, t.y0 + 1);
  blend3(out, tl, tr, bl, br, t.wx, t.wy);
}

// Output pixel (x, y) of a (size, size) training image: the flips mirror the position
// back, then composite(s), mixup, HSV (sdiv/hdiv180: the tables of hsv_sdiv/hsv_hdiv180).
SHRIKE_HOST_DEVICE inline void sample_pixel(std::uint8_t* out, const AugmentSample& d, const std::uint8_t* sources,
                                            int size, int x, int y, const int* sdiv, const int* hdiv180) {
  const int px = d.flip_lr ? size - 1 - x : x, py = d.flip_ud ? size - 1 - y : y;
  composite_pixel(out, d.image, sources, px, py);
  if (d.mixup) {
    std::uint8_t other[3];
    composite_pixel(other, d.partner, sources, px, py);
    for (int c = 0; c < 3; ++c) out[c] = mix_u8(out[c], other[c], d.mixup_ratio);
  }
  if (d.hsv) hsv_jitter_pixel(out, d.hue, d.sat, d.val, sdiv, hdiv180);
}

}  // namespace shrike::kernels::pixel
