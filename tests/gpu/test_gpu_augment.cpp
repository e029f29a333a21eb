// tests/gpu/test_gpu_augment.cpp: every CUDA augmentation op (kernels/augment_cuda.h)
// against its CPU reference (kernels/augment.h) on fresh random images and random
// parameters, including odd and one-pixel sizes and a large image: warp (affine and
// perspective, random border), HSV jitter (also over all 2^24 RGB values), flips,
// letterbox (up, down, same size), mosaic tile placement, mixup, and the fused batch
// kernel against the CPU ops composed in the reference's order. Tolerance: none, the
// bytes must be equal (uint8 outputs, shared per-pixel arithmetic); each case prints
// its mismatching byte count. Without a CUDA device: "SKIPPED: ..." and exit 77.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/augment.h"
#include "kernels/augment_cuda.h"
#include "kernels/augment_pixel.h"
#include "tests/gpu/gpu_test_support.h"

namespace {

using namespace shrike;
using namespace shrike::kernels;
using gpu_test::Report;
using Bytes = std::vector<std::uint8_t>;

constexpr double kPi = 3.14159265358979323846;

Bytes random_bytes(std::mt19937_64& rng, std::size_t n) {
  Bytes out(n);
  for (auto& v : out) v = static_cast<std::uint8_t>(rng());
  return out;
}

Bytes random_image(std::mt19937_64& rng, int h, int w) { return random_bytes(rng, static_cast<std::size_t>(h) * w * 3); }

int uniform_int(std::mt19937_64& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
double uniform(std::mt19937_64& rng, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

void compare(Report& report, const std::string& name, const Bytes& got, const Bytes& expected) {
  std::size_t mismatches = got.size() == expected.size() ? 0 : std::max(got.size(), expected.size());
  for (std::size_t i = 0; i < std::min(got.size(), expected.size()); ++i) mismatches += got[i] != expected[i];
  report.check(name, mismatches == 0, std::to_string(mismatches) + " of " + std::to_string(expected.size()) +
                                          " bytes differ");
}

// A random RandomPerspective-like forward matrix for a (in_h, in_w) canvas into (out_h,
// out_w): centre, perspective, rotation + scale, shear, translation; returned inverted.
Matrix3 random_inverse(std::mt19937_64& rng, int in_h, int in_w, int out_h, int out_w, bool perspective) {
  Matrix3 c = {1, 0, -in_w / 2.0, 0, 1, -in_h / 2.0, 0, 0, 1};
  Matrix3 p = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  if (perspective) p[6] = uniform(rng, -0.001, 0.001), p[7] = uniform(rng, -0.001, 0.001);
  const double angle = uniform(rng, -30, 30) * kPi / 180, scale = uniform(rng, 0.4, 1.6);
  Matrix3 r = {std::cos(angle) * scale, std::sin(angle) * scale, 0, -std::sin(angle) * scale,
               std::cos(angle) * scale, 0, 0, 0, 1};
  Matrix3 sh = {1, std::tan(uniform(rng, -0.2, 0.2)), 0, std::tan(uniform(rng, -0.2, 0.2)), 1, 0, 0, 0, 1};
  Matrix3 t = {1, 0, uniform(rng, 0.3, 0.7) * out_w, 0, 1, uniform(rng, 0.3, 0.7) * out_h, 0, 0, 1};
  Matrix3 m = matmul3(matmul3(matmul3(matmul3(t, sh), r), p), c);
  for (double& v : m) v = static_cast<float>(v);
  return invert3(m);
}

// ---- single ops ------------------------------------------------------------------------------

void test_warp(Report& report, std::mt19937_64& rng) {
  const int shapes[][4] = {{1, 1, 1, 1}, {7, 33, 9, 5}, {65, 3, 33, 65}, {128, 128, 64, 64}, {480, 640, 640, 640}};
  for (const auto& sh : shapes) {
    for (bool perspective : {false, true}) {
      const ImageShape src_shape{sh[0], sh[1], 3}, dst_shape{sh[2], sh[3], 3};
      const Bytes src = random_image(rng, sh[0], sh[1]);
      const Matrix3 inverse = random_inverse(rng, sh[0], sh[1], sh[2], sh[3], perspective);
      const auto border = static_cast<std::uint8_t>(rng());
      Bytes expected(dst_shape.bytes());
      warp_u8_cpu(expected.data(), dst_shape, src.data(), src_shape, inverse, perspective, border);
      auto d_src = gpu_test::to_device(src);
      DeviceArray<std::uint8_t> d_dst(expected.size());
      warp_u8_cuda(d_dst.data(), dst_shape, d_src.data(), src_shape, inverse, perspective, border, nullptr);
      compare(report, "warp " + std::to_string(sh[0]) + "x" + std::to_string(sh[1]) + " -> " + std::to_string(sh[2]) +
                          "x" + std::to_string(sh[3]) + (perspective ? " perspective" : " affine"),
              gpu_test::to_host(d_dst), expected);
    }
  }
}

HsvTables random_tables(std::mt19937_64& rng) {
  return hsv_tables(uniform(rng, -1, 1) * 0.5, uniform(rng, -1, 1) * 0.9, uniform(rng, -1, 1) * 0.9);
}

void test_hsv(Report& report, std::mt19937_64& rng) {
  const int shapes[][3] = {{1, 1, 1}, {3, 7, 33}, {2, 65, 65}, {2, 640, 640}};
  for (const auto& sh : shapes) {
    const int count = sh[0], h = sh[1], w = sh[2];
    Bytes images = random_image(rng, count * h, w);
    std::vector<HsvTables> tables(count);
    for (auto& t : tables) t = random_tables(rng);
    auto d_images = gpu_test::to_device(images);
    DeviceArray<HsvTables> d_tables(tables.size());
    CUDA_CHECK(cudaMemcpy(d_tables.data(), tables.data(), d_tables.bytes(), cudaMemcpyHostToDevice));
    hsv_jitter_u8_cuda(d_images.data(), count, h, w, d_tables.data(), nullptr);
    const std::size_t image_bytes = static_cast<std::size_t>(h) * w * 3;
    for (int i = 0; i < count; ++i) hsv_jitter_u8_cpu(images.data() + i * image_bytes, h, w, tables[i]);
    compare(report, "hsv " + std::to_string(count) + " x " + std::to_string(h) + "x" + std::to_string(w),
            gpu_test::to_host(d_images), images);
  }
  // Every RGB value once (a 4096 x 4096 image), through random tables and through
  // identity-like ones (gains 0).
  Bytes cube(std::size_t{3} << 24);
  for (std::size_t v = 0; v < (std::size_t{1} << 24); ++v) {
    cube[v * 3] = static_cast<std::uint8_t>(v >> 16), cube[v * 3 + 1] = static_cast<std::uint8_t>(v >> 8);
    cube[v * 3 + 2] = static_cast<std::uint8_t>(v);
  }
  for (const HsvTables& t : {random_tables(rng), hsv_tables(0, 0, 0)}) {
    Bytes expected = cube;
    hsv_jitter_u8_cpu(expected.data(), 4096, 4096, t);
    auto d_images = gpu_test::to_device(cube);
    DeviceArray<HsvTables> d_tables(1);
    CUDA_CHECK(cudaMemcpy(d_tables.data(), &t, sizeof t, cudaMemcpyHostToDevice));
    hsv_jitter_u8_cuda(d_images.data(), 1, 4096, 4096, d_tables.data(), nullptr);
    compare(report, "hsv all 2^24 RGB values", gpu_test::to_host(d_images), expected);
  }
}

void test_flips(Report& report, std::mt19937_64& rng) {
  const int shapes[][3] = {{1, 1, 1}, {3, 1, 7}, {2, 7, 1}, {3, 33, 65}, {2, 640, 640}};
  for (const auto& sh : shapes) {
    const int count = sh[0], h = sh[1], w = sh[2];
    const std::size_t image_bytes = static_cast<std::size_t>(h) * w * 3;
    for (bool lr : {true, false}) {
      Bytes images = random_image(rng, count * h, w);
      auto d_images = gpu_test::to_device(images);
      for (int i = 0; i < count; ++i) {
        if (lr) {
          flip_lr_u8_cpu(images.data() + i * image_bytes, h, w);
        } else {
          flip_ud_u8_cpu(images.data() + i * image_bytes, h, w);
        }
      }
      if (lr) {
        flip_lr_u8_cuda(d_images.data(), count, h, w, nullptr);
      } else {
        flip_ud_u8_cuda(d_images.data(), count, h, w, nullptr);
      }
      compare(report, std::string(lr ? "flip_lr " : "flip_ud ") + std::to_string(count) + " x " + std::to_string(h) +
                          "x" + std::to_string(w),
              gpu_test::to_host(d_images), images);
    }
  }
}

void test_letterbox(Report& report, std::mt19937_64& rng) {
  const int shapes[][5] = {{1, 1, 32, 32, 1},    {7, 33, 64, 64, 1},   {65, 3, 33, 65, 0},   {100, 50, 100, 100, 1},
                           {480, 640, 640, 640, 1}, {640, 427, 320, 320, 0}, {17, 9, 17, 9, 0}};
  for (const auto& sh : shapes) {
    const LetterboxGeometry g = letterbox_geometry(sh[0], sh[1], sh[2], sh[3], sh[4] != 0);
    const Bytes src = random_image(rng, sh[0], sh[1]);
    const auto pad = static_cast<std::uint8_t>(rng());
    Bytes expected(static_cast<std::size_t>(g.out_h) * g.out_w * 3);
    letterbox_u8_cpu(expected.data(), g, src.data(), sh[0], sh[1], pad);
    auto d_src = gpu_test::to_device(src);
    DeviceArray<std::uint8_t> d_dst(expected.size());
    letterbox_u8_cuda(d_dst.data(), g, d_src.data(), sh[0], sh[1], pad, nullptr);
    compare(report, "letterbox " + std::to_string(sh[0]) + "x" + std::to_string(sh[1]) + " -> " +
                        std::to_string(g.out_h) + "x" + std::to_string(g.out_w),
            gpu_test::to_host(d_dst), expected);
  }
}

void test_mosaic_place(Report& report, std::mt19937_64& rng) {
  for (int s : {1, 7, 33, 640}) {
    Bytes canvas = random_image(rng, 2 * s, 2 * s);  // untouched pixels must stay
    auto d_canvas = gpu_test::to_device(canvas);
    const int xc = uniform_int(rng, s / 2, s + s / 2), yc = uniform_int(rng, s / 2, s + s / 2);
    for (int tile = 0; tile < 4; ++tile) {
      const int h = uniform_int(rng, 1, s), w = uniform_int(rng, 1, s);
      const Bytes image = random_image(rng, h, w);
      const MosaicTile t = mosaic_tile(tile, xc, yc, h, w, s);
      mosaic_place_u8_cpu(canvas.data(), s, image.data(), h, w, t);
      auto d_image = gpu_test::to_device(image);
      mosaic_place_u8_cuda(d_canvas.data(), s, d_image.data(), h, w, t, nullptr);
      CUDA_CHECK(cudaDeviceSynchronize());  // d_image is freed at the end of this scope
    }
    compare(report, "mosaic_place s " + std::to_string(s), gpu_test::to_host(d_canvas), canvas);
  }
}

void test_mixup(Report& report, std::mt19937_64& rng) {
  for (std::size_t n : {std::size_t{1}, std::size_t{3 * 7 * 33}, std::size_t{3 * 640 * 640}}) {
    Bytes a = random_bytes(rng, n), b = random_bytes(rng, n);
    const double r = uniform(rng, 0.0, 1.0);
    auto d_a = gpu_test::to_device(a);
    auto d_b = gpu_test::to_device(b);
    mixup_u8_cuda(d_a.data(), d_b.data(), a.size(), r, nullptr);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = pixel::mix_u8(a[i], b[i], r);
    compare(report, "mixup " + std::to_string(a.size()) + " bytes", gpu_test::to_host(d_a), a);
  }
}

// ---- the fused batch kernel ---------------------------------------------------------------

// A random source appended to `packed`: half of them load-resized (long side s), the
// others smaller (letterboxed with a resize).
AugmentSource add_source(std::mt19937_64& rng, int s, Bytes& packed) {
  int h = uniform_int(rng, 1, s), w = uniform_int(rng, 1, s);
  if (rng() % 2) (rng() % 2 ? h : w) = s;
  const Bytes pixels = random_image(rng, h, w);
  const AugmentSource where{packed.size(), h, w};
  packed.insert(packed.end(), pixels.begin(), pixels.end());
  return where;
}

// A random composite as make_train_recipe makes them: mosaic (warped from 2s) or
// letterbox (warped, or for a quarter of them not: the identity shortcut).
AugmentComposite random_composite(std::mt19937_64& rng, int s, Bytes& packed) {
  AugmentComposite c;
  c.mosaic = rng() % 2;
  if (c.mosaic) {
    c.canvas_h = c.canvas_w = 2 * s;
    const int xc = uniform_int(rng, s / 2, s + s / 2), yc = uniform_int(rng, s / 2, s + s / 2);
    for (int k = 0; k < 4; ++k) {
      c.sources[k] = add_source(rng, s, packed);
      c.tiles[k] = mosaic_tile(k, xc, yc, c.sources[k].height, c.sources[k].width, s);
    }
    c.warp = 1;
  } else {
    c.sources[0] = add_source(rng, s, packed);
    const LetterboxGeometry g = letterbox_geometry(c.sources[0].height, c.sources[0].width, s, s, true);
    c.canvas_h = g.out_h, c.canvas_w = g.out_w;
    c.top = g.top, c.left = g.left, c.resized_h = g.resized_h, c.resized_w = g.resized_w;
    c.warp = rng() % 4 != 0;
  }
  c.perspective = rng() % 2;
  if (c.warp) {
    const Matrix3 inverse = random_inverse(rng, c.canvas_h, c.canvas_w, s, s, c.perspective != 0);
    for (int i = 0; i < 9; ++i) c.inverse[i] = static_cast<float>(inverse[i]);
  }
  return c;
}

// The composite with the CPU ops: canvas (mosaic_place / letterbox), then warp.
Bytes compose_cpu(const AugmentComposite& c, const Bytes& packed, int s) {
  Bytes canvas(static_cast<std::size_t>(c.canvas_h) * c.canvas_w * 3, kPadValue);
  if (c.mosaic) {
    for (int k = 0; k < 4; ++k) {
      const AugmentSource& src = c.sources[k];
      mosaic_place_u8_cpu(canvas.data(), c.canvas_w / 2, packed.data() + src.offset, src.height, src.width, c.tiles[k]);
    }
  } else {
    LetterboxGeometry g;
    g.resized_h = c.resized_h, g.resized_w = c.resized_w, g.top = c.top, g.left = c.left;
    g.out_h = c.canvas_h, g.out_w = c.canvas_w;
    const AugmentSource& src = c.sources[0];
    letterbox_u8_cpu(canvas.data(), g, packed.data() + src.offset, src.height, src.width);
  }
  if (!c.warp) return canvas;
  Matrix3 inverse;
  for (int i = 0; i < 9; ++i) inverse[i] = c.inverse[i];
  Bytes out(static_cast<std::size_t>(s) * s * 3);
  warp_u8_cpu(out.data(), {s, s, 3}, canvas.data(), {c.canvas_h, c.canvas_w, 3}, inverse, c.perspective != 0);
  return out;
}

Bytes sample_cpu(const AugmentSample& d, const Bytes& packed, int s) {
  Bytes out = compose_cpu(d.image, packed, s);
  if (d.mixup) {
    const Bytes partner = compose_cpu(d.partner, packed, s);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = pixel::mix_u8(out[i], partner[i], d.mixup_ratio);
  }
  if (d.hsv) {
    HsvTables t;
    std::memcpy(t.hue.data(), d.hue, 256), std::memcpy(t.sat.data(), d.sat, 256), std::memcpy(t.val.data(), d.val, 256);
    hsv_jitter_u8_cpu(out.data(), s, s, t);
  }
  if (d.flip_ud) flip_ud_u8_cpu(out.data(), s, s);
  if (d.flip_lr) flip_lr_u8_cpu(out.data(), s, s);
  return out;
}

void test_fused(Report& report, std::mt19937_64& rng) {
  const int cases[][2] = {{32, 6}, {33, 5}, {64, 8}, {640, 4}};  // (s, batch)
  for (const auto& cs : cases) {
    const int s = cs[0], batch = cs[1];
    Bytes packed;
    std::vector<AugmentSample> samples(batch);
    for (AugmentSample& d : samples) {
      d.image = random_composite(rng, s, packed);
      d.mixup = rng() % 2;
      if (d.mixup) {
        d.partner = random_composite(rng, s, packed);
        d.mixup_ratio = uniform(rng, 0.3, 0.7);
      }
      d.hsv = rng() % 4 != 0;
      const HsvTables t = random_tables(rng);
      std::memcpy(d.hue, t.hue.data(), 256), std::memcpy(d.sat, t.sat.data(), 256), std::memcpy(d.val, t.val.data(), 256);
      d.flip_ud = rng() % 2;
      d.flip_lr = rng() % 2;
    }
    Bytes expected;
    for (const AugmentSample& d : samples) {
      const Bytes one = sample_cpu(d, packed, s);
      expected.insert(expected.end(), one.begin(), one.end());
    }
    auto d_packed = gpu_test::to_device(packed);
    DeviceArray<AugmentSample> d_samples(samples.size());
    CUDA_CHECK(cudaMemcpy(d_samples.data(), samples.data(), d_samples.bytes(), cudaMemcpyHostToDevice));
    DeviceArray<std::uint8_t> d_out(expected.size());
    augment_batch_u8_cuda(d_out.data(), batch, s, d_samples.data(), d_packed.data(), nullptr);
    compare(report, "fused batch " + std::to_string(batch) + " x " + std::to_string(s) + "x" + std::to_string(s),
            gpu_test::to_host(d_out), expected);
  }
}

}  // namespace

int main() {
  if (!gpu_test::have_device()) return 77;
  auto rng = gpu_test::seeded_rng();
  Report report;
  try {
    test_warp(report, rng);
    test_hsv(report, rng);
    test_flips(report, rng);
    test_letterbox(report, rng);
    test_mosaic_place(report, rng);
    test_mixup(report, rng);
    test_fused(report, rng);
  } catch (const std::exception& e) {
    report.check("exception", false, e.what());
  }
  return report.finish();
}
