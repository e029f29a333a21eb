// pipeline/model/safetensors_file.h
//
// The safetensors file format (huggingface/safetensors, the weights format PyTorch
// users exchange): 8 bytes little-endian header length N; N bytes of JSON
// {"__metadata__": {"key": "string", ...}, "<tensor name>": {"dtype": "F32",
// "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...} padded with spaces; then
// the tensors' raw little-endian bytes, C order, at [begin, end) of the data section.
//
// Why our own reader and writer: there is no C++ safetensors library in Debian 12
// (the reference implementation is Rust with Python bindings). The format is small;
// nlohmann-json parses the header and this file enforces what the reference reader
// enforces: a header under 100 MB, known dtypes, byte ranges that match the shapes,
// inside the file, contiguous and non-overlapping, string-valued metadata. Every
// violation is a UserError naming the file and the tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace shrike::model {

struct SafetensorsTensor {
  std::string dtype;                // "F32", "F16", "BF16", "F64", "I64", "I32", ...
  std::vector<std::int64_t> shape;  // [] for a scalar
  std::vector<std::uint8_t> bytes;  // little-endian, C order
};

struct SafetensorsContent {
  std::map<std::string, std::string> metadata;  // "__metadata__"
  std::map<std::string, SafetensorsTensor> tensors;
};

// Bytes per element of a safetensors dtype; 0 when the dtype is unknown.
std::size_t safetensors_dtype_size(std::string_view dtype);
std::size_t element_count(const std::vector<std::int64_t>& shape);

// Whole-file parse and serialisation. `source` names the bytes in messages.
SafetensorsContent parse_safetensors(std::string_view bytes, const std::string& source);
std::string serialize_safetensors(const SafetensorsContent& content);

SafetensorsContent read_safetensors(const std::filesystem::path& path);
// Atomically (temporary sibling, fsync, rename).
void write_safetensors(const std::filesystem::path& path, const SafetensorsContent& content);

// Tensor builders and readers. Floats are stored as F32, or F16 when `half`.
SafetensorsTensor float_tensor(std::vector<std::int64_t> shape, std::span<const float> values, bool half = false);
SafetensorsTensor int64_tensor(std::vector<std::int64_t> shape, std::span<const std::int64_t> values);
// F32, F16, BF16 or F64 as float32; another dtype is a UserError naming `what`.
std::vector<float> tensor_floats(const SafetensorsTensor& tensor, const std::string& what);
// I64, I32, I16, I8 or U8 as int64; another dtype is a UserError naming `what`.
std::vector<std::int64_t> tensor_integers(const SafetensorsTensor& tensor, const std::string& what);
bool is_float_dtype(std::string_view dtype);

}  // namespace shrike::model
