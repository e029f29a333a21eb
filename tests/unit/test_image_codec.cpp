// tests/unit/test_image_codec.cpp: JPEG and PNG decoding, EXIF orientation, and the
// problems bad files raise (truncated, corrupt, not an image, unsupported formats).
#include <gtest/gtest.h>
#include <libexif/exif-data.h>

#include <cmath>

#include "pipeline/data/image_codec.h"
#include "pipeline/data/sample_problem.h"
#include "tests/unit/test_support.h"

namespace shrike::data {
namespace {

double mean_abs_diff(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(int(a[i]) - int(b[i]));
  return sum / static_cast<double>(a.size());
}

std::string problem_kind(const std::vector<std::uint8_t>& bytes) {
  try {
    decode_image(bytes, "x.jpg");
  } catch (const SampleProblem& problem) {
    return problem.kind() + " | " + problem.what();
  }
  return "decoded";
}

RgbImage pattern_image(int h, int w) { return RgbImage{h, w, test::pattern_rgb(h, w, 1)}; }

// Inserts an APP1 EXIF segment with the given orientation right after SOI.
std::vector<std::uint8_t> with_exif_orientation(const std::vector<std::uint8_t>& jpeg, int orientation) {
  ExifData* exif = exif_data_new();
  exif_data_set_byte_order(exif, EXIF_BYTE_ORDER_INTEL);
  ExifEntry* entry = exif_entry_new();
  exif_content_add_entry(exif->ifd[EXIF_IFD_0], entry);
  exif_entry_initialize(entry, EXIF_TAG_ORIENTATION);
  exif_set_short(entry->data, EXIF_BYTE_ORDER_INTEL, static_cast<ExifShort>(orientation));
  unsigned char* data = nullptr;
  unsigned int size = 0;
  exif_data_save_data(exif, &data, &size);  // starts with "Exif\0\0"
  unsigned length = size + 2;
  std::vector<std::uint8_t> out;
  out.reserve(jpeg.size() + size + 4);
  for (std::uint8_t byte : {jpeg[0], jpeg[1], std::uint8_t{0xFF}, std::uint8_t{0xE1},
                            static_cast<std::uint8_t>(length >> 8), static_cast<std::uint8_t>(length & 255)}) {
    out.push_back(byte);
  }
  for (unsigned i = 0; i < size; ++i) out.push_back(data[i]);
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  free(data);
  exif_entry_unref(entry);
  exif_data_unref(exif);
  return out;
}

TEST(ImageCodec, JpegRoundTripIsClose) {
  RgbImage image = pattern_image(48, 80);
  auto jpeg = encode_jpeg(image, 95, true);
  EXPECT_EQ(sniff_image_format(jpeg), ImageFormat::kJpeg);
  RgbImage decoded = decode_image(jpeg, "p.jpg");
  ASSERT_EQ(decoded.height, 48);
  ASSERT_EQ(decoded.width, 80);
  EXPECT_LT(mean_abs_diff(decoded.pixels, image.pixels), 3.0);
}

TEST(ImageCodec, PngVariantsDecodeToRgb) {
  auto rgb = test::pattern_rgb(9, 13, 2);
  RgbImage decoded = decode_image(test::encode_png(rgb, 9, 13, 3), "a.png");
  EXPECT_EQ(decoded.pixels, rgb);  // PNG is lossless

  std::vector<std::uint8_t> grey(9 * 13);
  for (std::size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<std::uint8_t>(i * 3);
  RgbImage from_grey = decode_image(test::encode_png(grey, 9, 13, 1), "g.png");
  for (std::size_t i = 0; i < grey.size(); ++i) {
    ASSERT_EQ(from_grey.pixels[3 * i], grey[i]);
    ASSERT_EQ(from_grey.pixels[3 * i + 2], grey[i]);
  }

  std::vector<std::uint8_t> rgba(9 * 13 * 4);
  for (std::size_t i = 0; i < 9 * 13; ++i) {
    for (int c = 0; c < 3; ++c) rgba[4 * i + c] = rgb[3 * i + c];
    rgba[4 * i + 3] = static_cast<std::uint8_t>(i);  // alpha is dropped, not composited
  }
  EXPECT_EQ(decode_image(test::encode_png(rgba, 9, 13, 4), "a.png").pixels, rgb);
}

TEST(ImageCodec, SixteenBitPngKeepsTheHighByte) {
  auto rgb = test::pattern_rgb(6, 7, 3);
  RgbImage decoded = decode_image(test::encode_png(rgb, 6, 7, 3, true), "w.png");
  // the simplified writer stores linear 16-bit; after truncation values stay monotone
  ASSERT_EQ(decoded.pixels.size(), rgb.size());
  EXPECT_EQ(decoded.height, 6);
}

TEST(ImageCodec, TruncatedJpegIsAProblemNotAGreyImage) {
  auto jpeg = encode_jpeg(pattern_image(256, 256), 90, false);
  jpeg.resize(jpeg.size() / 2);  // inside the scan data
  std::string result = problem_kind(jpeg);
  EXPECT_EQ(result.rfind("truncated image", 0), 0u) << result;
  EXPECT_NE(result.find("x.jpg"), std::string::npos);
}

TEST(ImageCodec, TruncatedPngIsAProblem) {
  auto png = test::encode_png(test::pattern_rgb(32, 32, 1), 32, 32, 3);
  png.resize(png.size() - 40);
  std::string result = problem_kind(png);
  EXPECT_NE(result.find("PNG"), std::string::npos) << result;
  EXPECT_NE(result.find("image |"), std::string::npos) << result;
}

TEST(ImageCodec, NonImagesAreNamed) {
  std::string html = "<html><body>404</body></html>";
  std::string result = problem_kind(std::vector<std::uint8_t>(html.begin(), html.end()));
  EXPECT_NE(result.find("unsupported image format"), std::string::npos);
  EXPECT_NE(result.find("starts with 3c 68 74 6d: an HTML"), std::string::npos) << result;
  std::string bmp = "BM\x36\x00\x00\x00";
  EXPECT_NE(problem_kind(std::vector<std::uint8_t>(bmp.begin(), bmp.end())).find("BMP"), std::string::npos);
  EXPECT_NE(problem_kind({}).find("empty"), std::string::npos);
  std::string gif = "GIF89a....";
  EXPECT_NE(problem_kind(std::vector<std::uint8_t>(gif.begin(), gif.end())).find("GIF"), std::string::npos);
}

TEST(ImageCodec, CorruptJpegHeaderIsAProblem) {
  std::vector<std::uint8_t> junk = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, 0x13, 0x37, 0x00};
  std::string result = problem_kind(junk);
  EXPECT_NE(result.find("image |"), std::string::npos) << result;
}

TEST(ExifOrientation, TagIsReadAndAbsentMeansUpright) {
  auto jpeg = encode_jpeg(pattern_image(16, 24), 90, true);
  EXPECT_EQ(jpeg_exif_orientation(jpeg), 1);
  for (int orientation = 1; orientation <= 8; ++orientation) {
    EXPECT_EQ(jpeg_exif_orientation(with_exif_orientation(jpeg, orientation)), orientation);
  }
}

TEST(ExifOrientation, RotatedJpegIsDecodedUpright) {
  // A 40x80 image whose left half is red and right half blue, tagged "rotate 90 CW"
  // (orientation 6): upright it is 80 high, 40 wide, red on top, blue at the bottom.
  RgbImage image{40, 80, std::vector<std::uint8_t>(40 * 80 * 3)};
  for (int y = 0; y < 40; ++y) {
    for (int x = 0; x < 80; ++x) {
      std::uint8_t* p = &image.pixels[(y * 80 + x) * 3];
      p[0] = x < 40 ? 230 : 10;
      p[1] = 10;
      p[2] = x < 40 ? 10 : 230;
    }
  }
  RgbImage upright = decode_image(with_exif_orientation(encode_jpeg(image, 95, true), 6), "r.jpg");
  ASSERT_EQ(upright.height, 80);
  ASSERT_EQ(upright.width, 40);
  EXPECT_GT(upright.pixels[(10 * 40 + 20) * 3 + 0], 200);  // top: red
  EXPECT_GT(upright.pixels[(70 * 40 + 20) * 3 + 2], 200);  // bottom: blue
}

TEST(ExifOrientation, AllEightTransformsMapCornersAsPilDoes) {
  // 2 rows x 3 columns, pixel value = 10*row + column (in the red channel).
  RgbImage image{2, 3, std::vector<std::uint8_t>(18)};
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 3; ++c) image.pixels[(r * 3 + c) * 3] = static_cast<std::uint8_t>(10 * r + c);
  }
  auto red = [](const RgbImage& im) {
    std::vector<int> v;
    for (std::size_t i = 0; i < im.pixels.size(); i += 3) v.push_back(im.pixels[i]);
    return v;
  };
  // Expected outputs, row-major, from PIL's transpose operations on that image.
  EXPECT_EQ(red(apply_exif_orientation(image, 1)), (std::vector<int>{0, 1, 2, 10, 11, 12}));
  EXPECT_EQ(red(apply_exif_orientation(image, 2)), (std::vector<int>{2, 1, 0, 12, 11, 10}));   // mirror
  EXPECT_EQ(red(apply_exif_orientation(image, 3)), (std::vector<int>{12, 11, 10, 2, 1, 0}));   // 180
  EXPECT_EQ(red(apply_exif_orientation(image, 4)), (std::vector<int>{10, 11, 12, 0, 1, 2}));   // flip
  EXPECT_EQ(red(apply_exif_orientation(image, 5)), (std::vector<int>{0, 10, 1, 11, 2, 12}));   // transpose
  EXPECT_EQ(red(apply_exif_orientation(image, 6)), (std::vector<int>{10, 0, 11, 1, 12, 2}));   // 90 CW
  EXPECT_EQ(red(apply_exif_orientation(image, 7)), (std::vector<int>{12, 2, 11, 1, 10, 0}));   // transverse
  EXPECT_EQ(red(apply_exif_orientation(image, 8)), (std::vector<int>{2, 12, 1, 11, 0, 10}));   // 90 CCW
  EXPECT_EQ(apply_exif_orientation(image, 6).height, 3);
}

}  // namespace
}  // namespace shrike::data
