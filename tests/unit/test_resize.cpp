// tests/unit/test_resize.cpp: the CPU bilinear resize against values worked out by
// hand from OpenCV's INTER_LINEAR definition, and its 2x-downscale property.
#include <gtest/gtest.h>

#include "kernels/resize.h"
#include "tests/unit/test_support.h"

namespace shrike::kernels {
namespace {

TEST(ResizeBilinear, UpscaleMatchesHandComputedOpenCvValues) {
  // cv2.resize([[0,100],[200,255]], (4,4), INTER_LINEAR): x maps to (x+0.5)/2-0.5,
  // clamped: columns take (0, 0), (0, .25), (0, .75), (1, 0).
  const std::uint8_t src[] = {0, 100, 200, 255};
  std::uint8_t dst[16];
  resize_bilinear_u8_cpu(dst, {4, 4, 1}, src, {2, 2, 1});
  const std::uint8_t first_row[] = {0, 25, 75, 100};
  for (int x = 0; x < 4; ++x) EXPECT_EQ(dst[x], first_row[x]) << x;
  const std::uint8_t last_row[] = {200, 214, 241, 255};  // 200 + (255-200)*{0,.25,.75,1}
  for (int x = 0; x < 4; ++x) EXPECT_EQ(dst[12 + x], last_row[x]) << x;
  // (x=1, y=1): rows 0 and 1 at weight .25, columns 0 and 1 at weight .25:
  // top 25, bottom 213.75 -> 25 + .25 * 188.75 = 72.19 -> 72
  EXPECT_EQ(dst[4 + 1], 72);
}

TEST(ResizeBilinear, HalvingAveragesEachTwoByTwoBlock) {
  const int h = 38, w = 54, c = 3;
  auto src = test::random_bytes(static_cast<std::size_t>(h) * w * c, 7);
  std::vector<std::uint8_t> dst(static_cast<std::size_t>(h / 2) * (w / 2) * c);
  resize_bilinear_u8_cpu(dst.data(), {h / 2, w / 2, c}, src.data(), {h, w, c});
  for (int y = 0; y < h / 2; ++y) {
    for (int x = 0; x < w / 2; ++x) {
      for (int k = 0; k < c; ++k) {
        auto at = [&](int yy, int xx) { return static_cast<int>(src[(static_cast<std::size_t>(yy) * w + xx) * c + k]); };
        double mean = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4.0;
        int got = dst[(static_cast<std::size_t>(y) * (w / 2) + x) * c + k];
        EXPECT_NEAR(got, mean, 0.5 + 1e-9) << y << "," << x << "," << k;
      }
    }
  }
}

TEST(ResizeBilinear, SameSizeCopies) {
  auto src = test::random_bytes(5 * 7 * 3, 3);
  std::vector<std::uint8_t> dst(src.size());
  resize_bilinear_u8_cpu(dst.data(), {5, 7, 3}, src.data(), {5, 7, 3});
  EXPECT_EQ(dst, src);
}

TEST(ResizeBilinear, ConstantImageStaysConstant) {
  std::vector<std::uint8_t> src(31 * 17 * 3, 123);
  std::vector<std::uint8_t> dst(64 * 40 * 3);
  resize_bilinear_u8_cpu(dst.data(), {64, 40, 3}, src.data(), {31, 17, 3});
  for (auto v : dst) ASSERT_EQ(v, 123);
}

}  // namespace
}  // namespace shrike::kernels
