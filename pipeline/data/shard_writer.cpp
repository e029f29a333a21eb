// pipeline/data/shard_writer.cpp: one shard file, appended sample by sample.
#include "pipeline/data/shard_writer.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cmath>

#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/core/sha256.h"

namespace shrike::data {

namespace fs = std::filesystem;

std::string encoding_name(ShardEncoding encoding) {
  return encoding == ShardEncoding::kJpeg ? "jpeg" : "raw";
}

ShardEncoding parse_encoding(const std::string& name) {
  if (name == "raw") return ShardEncoding::kRaw;
  if (name == "jpeg") return ShardEncoding::kJpeg;
  fail_user("unknown encoding '{}': use 'raw' (decoded pixels, fastest to read) or 'jpeg' "
            "(several times smaller, decoded by the loader).", name);
}

std::string shard_file_name(int index, int count) {
  return fmt::format("part-{:05}-of-{:05}.h5", index, count);
}

void stored_size(int orig_height, int orig_width, int imgsz, int* height, int* width) {
  double r = static_cast<double>(imgsz) / std::max(orig_height, orig_width);
  if (r == 1.0) {
    *height = orig_height;
    *width = orig_width;
    return;
  }
  *width = std::max(1, std::min(static_cast<int>(std::ceil(orig_width * r)), imgsz));
  *height = std::max(1, std::min(static_cast<int>(std::ceil(orig_height * r)), imgsz));
}

namespace {

H5Handle create_group(hid_t file, const char* name, const std::string& context) {
  H5Handle create(H5_CHECK(H5Pcreate(H5P_GROUP_CREATE), context));
  H5_CHECK(H5Pset_obj_track_times(create, false), context);
  return H5Handle(H5_CHECK(H5Gcreate2(file, name, H5P_DEFAULT, create, H5P_DEFAULT), context));
}

H5Handle create_pixel_dataset(hid_t group, const std::string& context) {
  hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = kPixelChunkBytes;
  H5Handle space(H5_CHECK(H5Screate_simple(1, &zero, &unlimited), context));
  H5Handle create(H5_CHECK(H5Pcreate(H5P_DATASET_CREATE), context));
  H5_CHECK(H5Pset_chunk(create, 1, &chunk), context);
  H5_CHECK(H5Pset_obj_track_times(create, false), context);
  return H5Handle(H5_CHECK(H5Dcreate2(group, "data", H5T_STD_U8LE, space, H5P_DEFAULT, create, H5P_DEFAULT),
                           context));
}

}  // namespace

ShardWriter::ShardWriter(fs::path final_path, ShardHeader header)
    : final_path_(std::move(final_path)),
      temp_path_(temporary_sibling(final_path_)),
      context_(final_path_.string()),
      header_(std::move(header)) {
  silence_hdf5_error_printing();
  H5Handle create(H5_CHECK(H5Pcreate(H5P_FILE_CREATE), context_));
  file_ = H5Handle(H5Fcreate(temp_path_.c_str(), H5F_ACC_TRUNC, create, H5P_DEFAULT));
  if (file_.get() < 0) {
    fail_user("cannot create {}: check that the output folder is writable and has space.",
              temp_path_.string());
  }
  H5Handle images = create_group(file_, "images", context_);
  pixels_ = create_pixel_dataset(images, context_);
}

ShardWriter::~ShardWriter() {
  if (closed_) return;
  pixels_.reset();
  file_.reset();
  ::unlink(temp_path_.c_str());
}

void ShardWriter::append(const ShardSample& sample) {
  hsize_t start = image_offsets_.back();
  hsize_t count = sample.data.size();
  hsize_t new_size = start + count;
  H5_CHECK(H5Dset_extent(pixels_, &new_size), context_);
  H5Handle file_space(H5_CHECK(H5Dget_space(pixels_), context_));
  H5_CHECK(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, &start, nullptr, &count, nullptr), context_);
  H5Handle memory_space(H5_CHECK(H5Screate_simple(1, &count, nullptr), context_));
  H5_CHECK(H5Dwrite(pixels_, H5T_NATIVE_UINT8, memory_space, file_space, H5P_DEFAULT, sample.data.data()),
           context_);
  image_offsets_.push_back(new_size);
  shapes_.insert(shapes_.end(), {sample.height, sample.width, 3});
  orig_shapes_.insert(orig_shapes_.end(), {sample.orig_height, sample.orig_width});
  for (const auto& box : sample.boxes) {
    boxes_.insert(boxes_.end(), {box.cx, box.cy, box.w, box.h});
    classes_.push_back(box.class_id);
  }
  label_offsets_.push_back(classes_.size());
  paths_.insert(paths_.end(), sample.source_path.begin(), sample.source_path.end());
  path_offsets_.push_back(paths_.size());
}

WrittenShard ShardWriter::close() {
  const hsize_t n = shapes_.size() / 3, m = classes_.size();
  {
    H5Handle images(H5_CHECK(H5Gopen2(file_, "images", H5P_DEFAULT), context_));
    write_dataset(images, "offsets", H5T_STD_U64LE, {n + 1}, image_offsets_.data(), context_);
    write_dataset(images, "shape", H5T_STD_I32LE, {n, 3}, shapes_.data(), context_);
    write_dataset(images, "orig_shape", H5T_STD_I32LE, {n, 2}, orig_shapes_.data(), context_);
    H5Handle labels = create_group(file_, "labels", context_);
    write_dataset(labels, "boxes", H5T_IEEE_F32LE, {m, 4}, boxes_.data(), context_);
    write_dataset(labels, "classes", H5T_STD_I32LE, {m}, classes_.data(), context_);
    write_dataset(labels, "offsets", H5T_STD_U64LE, {n + 1}, label_offsets_.data(), context_);
    H5Handle meta = create_group(file_, "meta", context_);
    write_dataset(meta, "source_paths", H5T_STD_U8LE, {paths_.size()}, paths_.data(), context_);
    write_dataset(meta, "source_offsets", H5T_STD_U64LE, {n + 1}, path_offsets_.data(), context_);
    write_string_attribute(file_, "format", kShardFormatName, context_);
    write_int_attribute(file_, "format_version", kShardFormatVersion, context_);
    write_string_attribute(file_, "split", header_.split, context_);
    write_int_attribute(file_, "shard_index", header_.shard_index, context_);
    write_int_attribute(file_, "shard_count", header_.shard_count, context_);
    write_int_attribute(file_, "imgsz", header_.imgsz, context_);
    write_string_attribute(file_, "encoding", encoding_name(header_.encoding), context_);
    write_int_attribute(file_, "num_images", static_cast<std::int64_t>(n), context_);
    write_int_attribute(file_, "num_boxes", static_cast<std::int64_t>(m), context_);
    write_string_attribute(file_, "names", header_.names_json, context_);
  }
  pixels_.reset();
  H5_CHECK(H5Fflush(file_, H5F_SCOPE_GLOBAL), context_);
  file_.reset();
  fsync_path(temp_path_);
  WrittenShard written{final_path_, n, m, fs::file_size(temp_path_), image_offsets_.back(),
                       sha256_file_hex(temp_path_)};
  rename_durably(temp_path_, final_path_);
  closed_ = true;
  return written;
}

}  // namespace shrike::data
