// pipeline/data/shard_format.h
//
// The layout of one shard file, `<split>/part-00000-of-00004.h5`: ordinary HDF5 that
// h5dump and h5py read. Flat arrays plus offsets (N+1 entries), never variable-length
// types (slow, global heap; see hpc-notes). Sample i of the shard:
//
//   /images/data         uint8  (total,)   chunked 1 MiB, appended: sample i is
//                                          data[offsets[i]:offsets[i+1]], either raw
//                                          RGB pixels (H, W, 3) or a JPEG (encoding)
//   /images/offsets      uint64 (N+1,)
//   /images/shape        int32  (N, 3)     stored height, width, channels (3)
//   /images/orig_shape   int32  (N, 2)     original height, width (EXIF upright)
//   /labels/boxes        float32 (M, 4)    cx, cy, w, h normalised to 0..1
//   /labels/classes      int32  (M,)
//   /labels/offsets      uint64 (N+1,)     boxes of sample i: [offsets[i], offsets[i+1])
//   /meta/source_paths   uint8  (bytes,)   UTF-8 paths of the source images, concatenated
//   /meta/source_offsets uint64 (N+1,)
//
// Root attributes: format "shrike-shard", format_version, split, shard_index,
// shard_count, imgsz, encoding ("raw" | "jpeg"), num_images, num_boxes, names (JSON
// list). The stored image has long side = imgsz (aspect kept), as the reference's
// load_image resizes it; boxes are normalised, so they hold for both sizes.
#pragma once

#include <cstdint>
#include <string>

namespace shrike::data {

inline constexpr const char* kShardFormatName = "shrike-shard";
inline constexpr std::int64_t kShardFormatVersion = 1;
inline constexpr std::uint64_t kPixelChunkBytes = 1 << 20;

enum class ShardEncoding { kRaw, kJpeg };

std::string encoding_name(ShardEncoding encoding);
// Throws UserError for anything but "raw" and "jpeg".
ShardEncoding parse_encoding(const std::string& name);

// "part-00003-of-00016.h5"
std::string shard_file_name(int index, int count);

// The stored size of an image of original size (h0, w0): long side = imgsz, aspect
// kept, as the reference computes it (ceil, capped at imgsz).
void stored_size(int orig_height, int orig_width, int imgsz, int* height, int* width);

}  // namespace shrike::data
