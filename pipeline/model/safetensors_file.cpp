// pipeline/model/safetensors_file.cpp: safetensors header validation, (de)serialisation
// and dtype conversion (see safetensors_file.h).
#include "pipeline/model/safetensors_file.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/model/float16.h"

namespace shrike::model {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; so is this reader");

namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's limit
constexpr std::size_t kHeaderAlignment = 8;

struct ByteRange {
  std::uint64_t begin, end;
  std::string name;
};

std::vector<std::int64_t> parse_shape(const nlohmann::json& shape, const std::string& where) {
  if (!shape.is_array()) fail_user("{}: 'shape' must be a list of sizes", where);
  std::vector<std::int64_t> dims;
  for (const auto& d : shape) {
    if (!d.is_number_unsigned()) fail_user("{}: 'shape' holds {}, not a non-negative integer", where, d.dump());
    dims.push_back(d.get<std::int64_t>());
  }
  return dims;
}

ByteRange parse_offsets(const nlohmann::json& offsets, const std::string& name, const std::string& where) {
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    fail_user("{}: 'data_offsets' must be [begin, end], got {}", where, offsets.dump());
  }
  ByteRange range{offsets[0].get<std::uint64_t>(), offsets[1].get<std::uint64_t>(), name};
  if (range.end < range.begin) fail_user("{}: data_offsets end {} is before begin {}", where, range.end, range.begin);
  return range;
}

std::map<std::string, std::string> parse_metadata(const nlohmann::json& metadata, const std::string& source) {
  if (!metadata.is_object()) fail_user("{}: '__metadata__' must be an object of strings", source);
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : metadata.items()) {
    if (!value.is_string()) {
      fail_user("{}: __metadata__ key '{}' holds {}; safetensors metadata values must be strings", source, key,
                value.dump());
    }
    out[key] = value.get<std::string>();
  }
  return out;
}

// The reference reader's rule: the tensors tile the data section exactly, in offset
// order, with no gap and no overlap.
void check_tiling(std::vector<ByteRange> ranges, std::uint64_t data_bytes, const std::string& source) {
  std::sort(ranges.begin(), ranges.end(), [](const ByteRange& a, const ByteRange& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t expected = 0;
  for (const ByteRange& r : ranges) {
    if (r.begin != expected) {
      fail_user("{}: tensor '{}' starts at byte {} of the data, expected {} ({} tensors' bytes)", source, r.name,
                r.begin, expected, r.begin < expected ? "overlapping" : "a gap between");
    }
    expected = r.end;
  }
  if (expected != data_bytes) {
    fail_user("{}: the tensors cover {} bytes but the data section holds {} (truncated or padded file?)", source,
              expected, data_bytes);
  }
}

std::uint64_t read_header_length(std::string_view bytes, const std::string& source) {
  if (bytes.size() < 8)
    fail_user("{}: {} bytes is too short for a safetensors file (8-byte header length)", source, bytes.size());
  std::uint64_t length;
  std::memcpy(&length, bytes.data(), sizeof length);
  if (length > kMaxHeaderBytes) {
    fail_user("{}: header length {} is over the 100 MB limit: not a safetensors file?", source, length);
  }
  if (length > bytes.size() - 8) {
    fail_user("{}: header length {} runs past the end of the file ({} bytes): truncated?", source, length,
              bytes.size());
  }
  return length;
}

}  // namespace

std::size_t safetensors_dtype_size(std::string_view dtype) {
  static const std::map<std::string_view, std::size_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

std::size_t element_count(const std::vector<std::int64_t>& shape) {
  std::size_t n = 1;
  for (std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

bool is_float_dtype(std::string_view dtype) {
  return dtype == "F32" || dtype == "F16" || dtype == "BF16" || dtype == "F64";
}

SafetensorsContent parse_safetensors(std::string_view bytes, const std::string& source) {
  const std::uint64_t header_length = read_header_length(bytes, source);
  const std::string_view header_text = bytes.substr(8, header_length);
  if (header_text.empty() || header_text.front() != '{') {
    fail_user("{}: the header does not start with '{{': not a safetensors file", source);
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text);
  } catch (const nlohmann::json::parse_error& error) {
    fail_user("{}: the header is not valid JSON ({})", source, error.what());
  }
  if (!header.is_object()) fail_user("{}: the header is not a JSON object", source);
  const std::string_view data = bytes.substr(8 + header_length);
  SafetensorsContent content;
  std::vector<ByteRange> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      content.metadata = parse_metadata(entry, source);
      continue;
    }
    const std::string where = fmt::format("{}: tensor '{}'", source, name);
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets")) {
      fail_user("{}: needs 'dtype', 'shape' and 'data_offsets'", where);
    }
    SafetensorsTensor tensor;
    if (!entry["dtype"].is_string()) fail_user("{}: 'dtype' must be a string", where);
    tensor.dtype = entry["dtype"].get<std::string>();
    const std::size_t element_bytes = safetensors_dtype_size(tensor.dtype);
    if (element_bytes == 0) fail_user("{}: unknown dtype '{}'", where, tensor.dtype);
    tensor.shape = parse_shape(entry["shape"], where);
    ByteRange range = parse_offsets(entry["data_offsets"], name, where);
    const std::uint64_t expected = element_count(tensor.shape) * element_bytes;
    if (range.end - range.begin != expected) {
      fail_user("{}: shape [{}] of {} needs {} bytes, data_offsets give {}", where, fmt::join(tensor.shape, ", "),
                tensor.dtype, expected, range.end - range.begin);
    }
    if (range.end > data.size()) {
      fail_user("{}: data_offsets end {} is past the end of the data ({} bytes): truncated file?", where, range.end,
                data.size());
    }
    tensor.bytes.assign(data.begin() + static_cast<std::ptrdiff_t>(range.begin),
                        data.begin() + static_cast<std::ptrdiff_t>(range.end));
    ranges.push_back(range);
    content.tensors.emplace(name, std::move(tensor));
  }
  check_tiling(std::move(ranges), data.size(), source);
  return content;
}

std::string serialize_safetensors(const SafetensorsContent& content) {
  nlohmann::json header = nlohmann::json::object();
  if (!content.metadata.empty()) header["__metadata__"] = content.metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : content.tensors) {  // name order: data laid out the same way
    if (name == "__metadata__") fail_internal("a tensor may not be named __metadata__");
    if (tensor.bytes.size() != element_count(tensor.shape) * safetensors_dtype_size(tensor.dtype)) {
      fail_internal("safetensors tensor {}: {} bytes for shape [{}] of {}", name, tensor.bytes.size(),
                    fmt::join(tensor.shape, ", "), tensor.dtype);
    }
    header[name] = {
        {"dtype", tensor.dtype}, {"shape", tensor.shape}, {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  std::string text = header.dump();
  text.append((kHeaderAlignment - (8 + text.size()) % kHeaderAlignment) % kHeaderAlignment, ' ');
  std::string out(8, '\0');
  const std::uint64_t length = text.size();
  std::memcpy(out.data(), &length, sizeof length);
  out += text;
  out.reserve(out.size() + offset);
  for (const auto& [name, tensor] : content.tensors) {
    out.append(reinterpret_cast<const char*>(tensor.bytes.data()), tensor.bytes.size());
  }
  return out;
}

SafetensorsContent read_safetensors(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_user("cannot open {}: {}", path.string(), errno_text(errno));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) fail_user("cannot read {}: {}", path.string(), errno_text(errno));
  return parse_safetensors(bytes.view(), path.string());
}

void write_safetensors(const std::filesystem::path& path, const SafetensorsContent& content) {
  write_file_atomically(path, serialize_safetensors(content));
}

SafetensorsTensor float_tensor(std::vector<std::int64_t> shape, std::span<const float> values, bool half) {
  SafetensorsTensor tensor;
  tensor.shape = std::move(shape);
  if (values.size() != element_count(tensor.shape)) fail_internal("float_tensor: {} values", values.size());
  if (half) {
    tensor.dtype = "F16";
    tensor.bytes.resize(values.size() * 2);
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::uint16_t bits = float_to_half_bits(values[i]);
      std::memcpy(tensor.bytes.data() + 2 * i, &bits, 2);
    }
  } else {
    tensor.dtype = "F32";
    tensor.bytes.resize(values.size() * 4);
    std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
  }
  return tensor;
}

SafetensorsTensor int64_tensor(std::vector<std::int64_t> shape, std::span<const std::int64_t> values) {
  SafetensorsTensor tensor;
  tensor.dtype = "I64";
  tensor.shape = std::move(shape);
  if (values.size() != element_count(tensor.shape)) fail_internal("int64_tensor: {} values", values.size());
  tensor.bytes.resize(values.size() * 8);
  std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
  return tensor;
}

namespace {

template <typename Stored, typename Out, typename Convert>
std::vector<Out> convert_elements(const SafetensorsTensor& tensor, Convert convert) {
  const std::size_t n = tensor.bytes.size() / sizeof(Stored);
  std::vector<Out> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    Stored stored;
    std::memcpy(&stored, tensor.bytes.data() + i * sizeof(Stored), sizeof(Stored));
    out[i] = convert(stored);
  }
  return out;
}

}  // namespace

std::vector<float> tensor_floats(const SafetensorsTensor& tensor, const std::string& what) {
  if (tensor.dtype == "F32") return convert_elements<float, float>(tensor, [](float v) { return v; });
  if (tensor.dtype == "F16") return convert_elements<std::uint16_t, float>(tensor, half_bits_to_float);
  if (tensor.dtype == "BF16") return convert_elements<std::uint16_t, float>(tensor, bfloat16_bits_to_float);
  if (tensor.dtype == "F64") {
    return convert_elements<double, float>(tensor, [](double v) { return static_cast<float>(v); });
  }
  fail_user("{} is {}, expected a float tensor (F32, F16, BF16 or F64)", what, tensor.dtype);
}

std::vector<std::int64_t> tensor_integers(const SafetensorsTensor& tensor, const std::string& what) {
  auto widen = [](auto v) { return static_cast<std::int64_t>(v); };
  if (tensor.dtype == "I64") return convert_elements<std::int64_t, std::int64_t>(tensor, widen);
  if (tensor.dtype == "I32") return convert_elements<std::int32_t, std::int64_t>(tensor, widen);
  if (tensor.dtype == "I16") return convert_elements<std::int16_t, std::int64_t>(tensor, widen);
  if (tensor.dtype == "I8") return convert_elements<std::int8_t, std::int64_t>(tensor, widen);
  if (tensor.dtype == "U8") return convert_elements<std::uint8_t, std::int64_t>(tensor, widen);
  fail_user("{} is {}, expected an integer tensor (I64, I32, I16, I8 or U8)", what, tensor.dtype);
}

}  // namespace shrike::model
