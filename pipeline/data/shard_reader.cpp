// pipeline/data/shard_reader.cpp: opening shard files, index arrays in memory, pixel
// reads under one lock.
#include "pipeline/data/shard_reader.h"

#include <fmt/core.h>

#include <algorithm>
#include <mutex>

#include "pipeline/core/error.h"
#include "pipeline/data/hdf5_check.h"
#include "pipeline/data/image_codec.h"
#include "pipeline/data/shard_format.h"

namespace shrike::data {

namespace fs = std::filesystem;

namespace {

// One open shard file and its index arrays.
struct OpenShard {
  std::string path;
  H5Handle file;
  H5Handle pixels;
  std::vector<std::uint64_t> image_offsets;
  std::vector<std::int32_t> shapes, orig_shapes;
  std::vector<float> boxes;
  std::vector<std::int32_t> classes;
  std::vector<std::uint64_t> label_offsets;
  std::vector<std::uint8_t> paths;
  std::vector<std::uint64_t> path_offsets;
  std::size_t size() const { return shapes.size() / 3; }
};

template <typename T>
void read_array(hid_t parent, const char* name, hid_t type, std::vector<T>& out, const std::string& where) {
  std::vector<hsize_t> dims = dataset_dims(parent, name, where);
  hsize_t count = 1;
  for (hsize_t d : dims) count *= d;
  out.resize(count);
  read_dataset(parent, name, type, out.data(), where);
}

OpenShard open_shard(const fs::path& path, ShardEncoding expected, const std::string& expected_split) {
  OpenShard shard;
  shard.path = path.string();
  const std::string& where = shard.path;
  if (!fs::exists(path)) {
    fail_user("shard {} listed in the manifest is missing; the shard folder is incomplete. "
              "Re-create it with `shrike shard ... --overwrite`.", where);
  }
  shard.file = data::open_hdf5_readonly(where, "shard");
  if (read_string_attribute(shard.file, "format", where) != kShardFormatName) {
    fail_user("{} is not a shrike shard (attribute 'format').", where);
  }
  if (read_string_attribute(shard.file, "encoding", where) != encoding_name(expected) ||
      read_string_attribute(shard.file, "split", where) != expected_split) {
    fail_user("{} does not match its manifest (encoding or split differ); re-create the shards.", where);
  }
  H5Handle images(H5_CHECK(H5Gopen2(shard.file, "images", H5P_DEFAULT), where));
  H5Handle labels(H5_CHECK(H5Gopen2(shard.file, "labels", H5P_DEFAULT), where));
  H5Handle meta(H5_CHECK(H5Gopen2(shard.file, "meta", H5P_DEFAULT), where));
  read_array(images, "offsets", H5T_NATIVE_UINT64, shard.image_offsets, where);
  read_array(images, "shape", H5T_NATIVE_INT32, shard.shapes, where);
  read_array(images, "orig_shape", H5T_NATIVE_INT32, shard.orig_shapes, where);
  read_array(labels, "boxes", H5T_NATIVE_FLOAT, shard.boxes, where);
  read_array(labels, "classes", H5T_NATIVE_INT32, shard.classes, where);
  read_array(labels, "offsets", H5T_NATIVE_UINT64, shard.label_offsets, where);
  read_array(meta, "source_paths", H5T_NATIVE_UINT8, shard.paths, where);
  read_array(meta, "source_offsets", H5T_NATIVE_UINT64, shard.path_offsets, where);
  const std::size_t n = shard.size();
  if (shard.image_offsets.size() != n + 1 || shard.label_offsets.size() != n + 1 ||
      shard.path_offsets.size() != n + 1 || shard.orig_shapes.size() != 2 * n ||
      shard.boxes.size() != 4 * shard.classes.size() || shard.label_offsets.back() != shard.classes.size()) {
    fail_user("{} is inconsistent (index arrays disagree); re-create the shards.", where);
  }
  // Whole-sample reads at random offsets: no chunk cache (it would only copy twice).
  H5Handle dataset_access(H5_CHECK(H5Pcreate(H5P_DATASET_ACCESS), where));
  H5_CHECK(H5Pset_chunk_cache(dataset_access, 0, 0, 1.0), where);
  shard.pixels = H5Handle(H5_CHECK(H5Dopen2(images, "data", dataset_access), where + " /images/data"));
  return shard;
}

}  // namespace

struct ShardSet::Impl {
  ShardManifest manifest;
  ShardEncoding encoding = ShardEncoding::kRaw;
  std::vector<OpenShard> shards;
  std::vector<std::size_t> first_index;  // global index of each shard's sample 0, plus total
  mutable std::mutex hdf5_mutex;

  // (shard, local index) of global sample `index`.
  std::pair<const OpenShard*, std::size_t> locate(std::size_t index) const {
    if (index >= first_index.back()) {
      fail_internal("sample index {} out of range (shard set has {} samples)", index, first_index.back());
    }
    auto it = std::upper_bound(first_index.begin(), first_index.end(), index) - 1;
    std::size_t shard = static_cast<std::size_t>(it - first_index.begin());
    return {&shards[shard], index - *it};
  }
};

ShardSet::ShardSet(const fs::path& dir, const std::string& split) : impl_(std::make_unique<Impl>()) {
  silence_hdf5_error_printing();
  impl_->manifest = read_manifest(dir);
  auto found = impl_->manifest.splits.find(split);
  if (found == impl_->manifest.splits.end()) {
    std::string known;
    for (const auto& [name, entry] : impl_->manifest.splits) known += (known.empty() ? "" : ", ") + name;
    fail_user("{} has no '{}' split (it has: {}). Shard it with `shrike shard DATA.yaml --splits {}`.",
              dir.string(), split, known, split);
  }
  const std::string& stored_split = found->second.same_as.empty() ? split : found->second.same_as;
  const SplitManifest& entry = impl_->manifest.splits.at(stored_split);
  impl_->encoding = parse_encoding(impl_->manifest.encoding);
  impl_->first_index.push_back(0);
  for (const auto& shard : entry.shards) {
    impl_->shards.push_back(open_shard(dir / shard.file, impl_->encoding, stored_split));
    impl_->first_index.push_back(impl_->first_index.back() + impl_->shards.back().size());
  }
}

ShardSet::~ShardSet() = default;
ShardSet::ShardSet(ShardSet&&) noexcept = default;
ShardSet& ShardSet::operator=(ShardSet&&) noexcept = default;

std::size_t ShardSet::size() const { return impl_->first_index.back(); }
const ShardManifest& ShardSet::manifest() const { return impl_->manifest; }
const std::vector<std::string>& ShardSet::names() const { return impl_->manifest.names; }
int ShardSet::imgsz() const { return impl_->manifest.imgsz; }

SampleInfo ShardSet::info(std::size_t index) const {
  auto [shard, i] = impl_->locate(index);
  SampleInfo info;
  info.height = shard->shapes[3 * i];
  info.width = shard->shapes[3 * i + 1];
  info.orig_height = shard->orig_shapes[2 * i];
  info.orig_width = shard->orig_shapes[2 * i + 1];
  info.source_path.assign(shard->paths.begin() + static_cast<std::ptrdiff_t>(shard->path_offsets[i]),
                          shard->paths.begin() + static_cast<std::ptrdiff_t>(shard->path_offsets[i + 1]));
  return info;
}

std::vector<LabelBox> ShardSet::boxes(std::size_t index) const {
  auto [shard, i] = impl_->locate(index);
  std::vector<LabelBox> out;
  for (std::uint64_t b = shard->label_offsets[i]; b < shard->label_offsets[i + 1]; ++b) {
    out.push_back({shard->classes[b], shard->boxes[4 * b], shard->boxes[4 * b + 1], shard->boxes[4 * b + 2],
                   shard->boxes[4 * b + 3]});
  }
  return out;
}

Sample ShardSet::read(std::size_t index) const {
  auto [shard, i] = impl_->locate(index);
  Sample sample;
  sample.info = info(index);
  sample.boxes = boxes(index);
  hsize_t start = shard->image_offsets[i];
  hsize_t count = shard->image_offsets[i + 1] - start;
  std::vector<std::uint8_t> bytes(count);
  {
    std::lock_guard lock(impl_->hdf5_mutex);
    H5Handle file_space(H5_CHECK(H5Dget_space(shard->pixels), shard->path));
    H5_CHECK(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, &start, nullptr, &count, nullptr), shard->path);
    H5Handle memory_space(H5_CHECK(H5Screate_simple(1, &count, nullptr), shard->path));
    H5_CHECK(H5Dread(shard->pixels, H5T_NATIVE_UINT8, memory_space, file_space, H5P_DEFAULT, bytes.data()),
             shard->path + " /images/data");
  }
  if (impl_->encoding == ShardEncoding::kJpeg) {
    RgbImage image = decode_jpeg(bytes, sample.info.source_path);
    sample.pixels = std::move(image.pixels);
  } else {
    sample.pixels = std::move(bytes);
  }
  const std::size_t expected = static_cast<std::size_t>(sample.info.height) * sample.info.width * 3;
  if (sample.pixels.size() != expected) {
    fail_user("{}: sample {} has {} bytes of pixels, expected {}; the shard is damaged.", shard->path, i,
              sample.pixels.size(), expected);
  }
  return sample;
}

}  // namespace shrike::data
