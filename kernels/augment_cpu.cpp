// kernels/augment_cpu.cpp: CPU references of the augmentation pixel ops (single-threaded:
// callers augment many images in parallel). See augment.h for the contracts; the
// per-pixel arithmetic is augment_pixel.h, shared with the CUDA twins (augment.cu).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/augment.h"
#include "kernels/augment_pixel.h"

namespace shrike::kernels {

Matrix3 matmul3(const Matrix3& a, const Matrix3& b) {
  Matrix3 out{};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double sum = 0.0;
      for (int k = 0; k < 3; ++k) sum += a[i * 3 + k] * b[k * 3 + j];
      out[i * 3 + j] = sum;
    }
  }
  return out;
}

Matrix3 invert3(const Matrix3& m) {
  const double c00 = m[4] * m[8] - m[5] * m[7];
  const double c01 = m[5] * m[6] - m[3] * m[8];
  const double c02 = m[3] * m[7] - m[4] * m[6];
  const double det = m[0] * c00 + m[1] * c01 + m[2] * c02;
  if (det == 0.0 || !std::isfinite(det)) {
    throw std::invalid_argument("invert3: the warp matrix is singular (det " + std::to_string(det) + ")");
  }
  const double inv = 1.0 / det;
  return {c00 * inv,
          (m[2] * m[7] - m[1] * m[8]) * inv,
          (m[1] * m[5] - m[2] * m[4]) * inv,
          c01 * inv,
          (m[0] * m[8] - m[2] * m[6]) * inv,
          (m[2] * m[3] - m[0] * m[5]) * inv,
          c02 * inv,
          (m[1] * m[6] - m[0] * m[7]) * inv,
          (m[0] * m[4] - m[1] * m[3]) * inv};
}

namespace {

// One channel value of src at integer (x, y), or `border` outside.
inline float tap(const std::uint8_t* src, ImageShape shape, int x, int y, int c, std::uint8_t border) {
  if (x < 0 || y < 0 || x >= shape.width || y >= shape.height) return border;
  return src[(static_cast<std::size_t>(y) * shape.width + x) * 3 + c];
}

// Bilinear sample of all three channels at (sx, sy) into out.
inline void sample_bilinear(std::uint8_t* out, const std::uint8_t* src, ImageShape shape, float sx, float sy,
                            std::uint8_t border) {
  const pixel::BilinearTaps t = pixel::bilinear_taps(sx, sy, shape.height, shape.width);
  if (t.outside) {  // far outside (also NaN): every tap is the border
    out[0] = out[1] = out[2] = border;
    return;
  }
  const int x0 = t.x0, y0 = t.y0;
  const bool inside = x0 >= 0 && y0 >= 0 && x0 + 1 < shape.width && y0 + 1 < shape.height;
  for (int c = 0; c < 3; ++c) {
    float tl, tr, bl, br;
    if (inside) {
      const std::uint8_t* p = src + (static_cast<std::size_t>(y0) * shape.width + x0) * 3 + c;
      const std::size_t row = static_cast<std::size_t>(shape.width) * 3;
      tl = p[0], tr = p[3], bl = p[row], br = p[row + 3];
    } else {
      tl = tap(src, shape, x0, y0, c, border), tr = tap(src, shape, x0 + 1, y0, c, border);
      bl = tap(src, shape, x0, y0 + 1, c, border), br = tap(src, shape, x0 + 1, y0 + 1, c, border);
    }
    out[c] = blend_u8(tl, tr, bl, br, t.wx, t.wy);
  }
}

}  // namespace

void warp_u8_cpu(std::uint8_t* dst, ImageShape dst_shape, const std::uint8_t* src, ImageShape src_shape,
                 const Matrix3& inverse, bool perspective, std::uint8_t border) {
  float m[9];
  for (int i = 0; i < 9; ++i) m[i] = static_cast<float>(inverse[i]);
  for (int y = 0; y < dst_shape.height; ++y) {
    std::uint8_t* out = dst + static_cast<std::size_t>(y) * dst_shape.width * 3;
    for (int x = 0; x < dst_shape.width; ++x, out += 3) {
      float sx, sy;
      pixel::warp_point(m, x, y, perspective, &sx, &sy);
      sample_bilinear(out, src, src_shape, sx, sy, border);
    }
  }
}

// ---- HSV ---------------------------------------------------------------------------------

HsvTables hsv_tables(double rh, double rs, double rv) {
  HsvTables tables{};
  for (int i = 0; i < 256; ++i) {
    const double x = i;
    // numpy's float remainder: fmod, moved into [0, 180) when the signs differ.
    double hue = std::fmod(x + rh * 180.0, 180.0);
    if (hue < 0.0) hue += 180.0;
    tables.hue[i] = static_cast<std::uint8_t>(hue);
    tables.sat[i] = static_cast<std::uint8_t>(std::clamp(x * (rs + 1.0), 0.0, 255.0));
    tables.val[i] = static_cast<std::uint8_t>(std::clamp(x * (rv + 1.0), 0.0, 255.0));
  }
  tables.sat[0] = 0;
  return tables;
}

namespace {

// OpenCV's RGB2HSV_b division tables (augment_pixel.h computes each entry).
struct HsvDivTables {
  int sdiv[256];
  int hdiv180[256];
  HsvDivTables() {
    for (int i = 0; i < 256; ++i) {
      sdiv[i] = pixel::hsv_sdiv(i);
      hdiv180[i] = pixel::hsv_hdiv180(i);
    }
  }
};

const HsvDivTables& hsv_div_tables() {
  static const HsvDivTables tables;
  return tables;
}

// The float constants of augment_pixel.h are the compiler's own quotients.
static_assert(pixel::kHueScale == 6.0f / 180.0f && pixel::kInv255 == 1.0f / 255.0f && pixel::kInv6 == 1.0f / 6.0f);

}  // namespace

std::array<std::uint8_t, 3> rgb_to_hsv_u8(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  const HsvDivTables& t = hsv_div_tables();
  std::array<std::uint8_t, 3> hsv{};
  pixel::rgb_to_hsv(r, g, b, t.sdiv, t.hdiv180, hsv.data());
  return hsv;
}

std::array<std::uint8_t, 3> hsv_to_rgb_u8(std::uint8_t h, std::uint8_t s, std::uint8_t v) {
  std::array<std::uint8_t, 3> rgb{};
  pixel::hsv_to_rgb(h, s, v, rgb.data());
  return rgb;
}

void hsv_jitter_u8_cpu(std::uint8_t* image, int height, int width, const HsvTables& tables) {
  const HsvDivTables& t = hsv_div_tables();
  const std::size_t pixels = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  for (std::size_t i = 0; i < pixels; ++i) {
    pixel::hsv_jitter_pixel(image + i * 3, tables.hue.data(), tables.sat.data(), tables.val.data(), t.sdiv,
                            t.hdiv180);
  }
}

// ---- flips ---------------------------------------------------------------------------------

void flip_lr_u8_cpu(std::uint8_t* image, int height, int width) {
  for (int y = 0; y < height; ++y) {
    std::uint8_t* row = image + static_cast<std::size_t>(y) * width * 3;
    for (int x = 0; x < width / 2; ++x) {
      std::uint8_t* a = row + static_cast<std::size_t>(x) * 3;
      std::uint8_t* b = row + static_cast<std::size_t>(width - 1 - x) * 3;
      std::swap(a[0], b[0]), std::swap(a[1], b[1]), std::swap(a[2], b[2]);
    }
  }
}

void flip_ud_u8_cpu(std::uint8_t* image, int height, int width) {
  const std::size_t row_bytes = static_cast<std::size_t>(width) * 3;
  for (int y = 0; y < height / 2; ++y) {
    std::swap_ranges(image + static_cast<std::size_t>(y) * row_bytes, image + (static_cast<std::size_t>(y) + 1) * row_bytes,
                     image + static_cast<std::size_t>(height - 1 - y) * row_bytes);
  }
}

// ---- letterbox -------------------------------------------------------------------------------

LetterboxGeometry letterbox_geometry(int src_h, int src_w, int out_h, int out_w, bool scaleup) {
  LetterboxGeometry g;
  g.ratio = std::min(static_cast<double>(out_h) / src_h, static_cast<double>(out_w) / src_w);
  if (!scaleup) g.ratio = std::min(g.ratio, 1.0);
  // Python's round(): half to even, which nearbyint gives in the default rounding mode.
  g.resized_w = static_cast<int>(std::nearbyint(src_w * g.ratio));
  g.resized_h = static_cast<int>(std::nearbyint(src_h * g.ratio));
  const double dw = (out_w - g.resized_w) / 2.0, dh = (out_h - g.resized_h) / 2.0;
  g.top = static_cast<int>(std::nearbyint(dh - 0.1));
  g.bottom = static_cast<int>(std::nearbyint(dh + 0.1));
  g.left = static_cast<int>(std::nearbyint(dw - 0.1));
  g.right = static_cast<int>(std::nearbyint(dw + 0.1));
  g.out_h = g.top + g.resized_h + g.bottom;
  g.out_w = g.left + g.resized_w + g.right;
  return g;
}

void letterbox_u8_cpu(std::uint8_t* dst, const LetterboxGeometry& g, const std::uint8_t* src, int src_h, int src_w,
                      std::uint8_t pad) {
  std::memset(dst, pad, static_cast<std::size_t>(g.out_h) * g.out_w * 3);
  std::vector<std::uint8_t> resized;
  const std::uint8_t* body = src;
  if (g.resized_h != src_h || g.resized_w != src_w) {
    resized.resize(static_cast<std::size_t>(g.resized_h) * g.resized_w * 3);
    resize_bilinear_u8_cpu(resized.data(), {g.resized_h, g.resized_w, 3}, src, {src_h, src_w, 3});
    body = resized.data();
  }
  const std::size_t row_bytes = static_cast<std::size_t>(g.resized_w) * 3;
  for (int y = 0; y < g.resized_h; ++y) {
    std::memcpy(dst + (static_cast<std::size_t>(y + g.top) * g.out_w + g.left) * 3,
                body + static_cast<std::size_t>(y) * row_bytes, row_bytes);
  }
}

// ---- mosaic -----------------------------------------------------------------------------------

MosaicTile mosaic_tile(int tile, int xc, int yc, int h, int w, int s) {
  MosaicTile t{};
  switch (tile) {
    case 0:  // top left
      t = {std::max(xc - w, 0), std::max(yc - h, 0), xc, yc, 0, 0};
      t.x1b = w - (t.x2a - t.x1a), t.y1b = h - (t.y2a - t.y1a);
      break;
    case 1:  // top right
      t = {xc, std::max(yc - h, 0), std::min(xc + w, 2 * s), yc, 0, 0};
      t.y1b = h - (t.y2a - t.y1a);
      break;
    case 2:  // bottom left
      t = {std::max(xc - w, 0), yc, xc, std::min(2 * s, yc + h), 0, 0};
      t.x1b = w - (t.x2a - t.x1a);
      break;
    case 3:  // bottom right
      t = {xc, yc, std::min(xc + w, 2 * s), std::min(2 * s, yc + h), 0, 0};
      break;
    default:
      throw std::invalid_argument("mosaic_tile: tile " + std::to_string(tile) + " is not 0..3");
  }
  return t;
}

void mosaic_place_u8_cpu(std::uint8_t* canvas, int s, const std::uint8_t* image, int h, int w, const MosaicTile& t) {
  (void)h;
  const int width = t.x2a - t.x1a;
  if (width <= 0 || t.y2a <= t.y1a) return;
  const std::size_t canvas_row = static_cast<std::size_t>(2 * s) * 3;
  const std::size_t image_row = static_cast<std::size_t>(w) * 3;
  for (int y = t.y1a; y < t.y2a; ++y) {
    std::memcpy(canvas + y * canvas_row + static_cast<std::size_t>(t.x1a) * 3,
                image + static_cast<std::size_t>(t.y1b + (y - t.y1a)) * image_row + static_cast<std::size_t>(t.x1b) * 3,
                static_cast<std::size_t>(width) * 3);
  }
}

}  // namespace shrike::kernels
