// pipeline/data/exif_orientation.cpp: the EXIF orientation tag of a JPEG (libexif)
// and the pixel transposition it asks for, as PIL's ImageOps.exif_transpose does.
// Labels in YOLO datasets are relative to the upright image.
#include <libexif/exif-data.h>

#include "pipeline/data/image_codec.h"

namespace shrike::data {

int jpeg_exif_orientation(std::span<const std::uint8_t> bytes) {
  ExifData* exif = exif_data_new_from_data(bytes.data(), static_cast<unsigned int>(bytes.size()));
  if (exif == nullptr) return 1;
  int orientation = 1;
  ExifEntry* entry = exif_content_get_entry(exif->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
  if (entry != nullptr && entry->format == EXIF_FORMAT_SHORT && entry->components >= 1) {
    orientation = exif_get_short(entry->data, exif_data_get_byte_order(exif));
  }
  exif_data_unref(exif);
  return (orientation >= 1 && orientation <= 8) ? orientation : 1;
}

RgbImage apply_exif_orientation(const RgbImage& image, int orientation) {
  const int h = image.height, w = image.width;
  const bool swaps = orientation >= 5;  // 5..8 turn by 90 degrees
  RgbImage out;
  out.height = swaps ? w : h;
  out.width = swaps ? h : w;
  out.pixels.resize(image.pixels.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int row = y, column = x;  // the source pixel of output (x, y)
      switch (orientation) {
        case 2: column = w - 1 - x; break;                    // mirror
        case 3: row = h - 1 - y; column = w - 1 - x; break;   // rotate 180
        case 4: row = h - 1 - y; break;                       // flip
        case 5: row = x; column = y; break;                   // transpose
        case 6: row = h - 1 - x; column = y; break;           // rotate 90 clockwise
        case 7: row = h - 1 - x; column = w - 1 - y; break;   // transverse
        case 8: row = x; column = w - 1 - y; break;           // rotate 90 anticlockwise
        default: break;
      }
      const std::uint8_t* from = &image.pixels[(static_cast<std::size_t>(row) * w + column) * 3];
      std::uint8_t* to = &out.pixels[(static_cast<std::size_t>(y) * out.width + x) * 3];
      to[0] = from[0];
      to[1] = from[1];
      to[2] = from[2];
    }
  }
  return out;
}

}  // namespace shrike::data
