// pipeline/core/byte_packing.h
//
// Packs plain values and vectors of them into a byte buffer and reads them back, for
// data that crosses process boundaries within one job (ranks of the same binary on
// the same architecture gather their validation statistics to rank 0). Not a file
// format: nothing here is versioned or endian-converted; files use HDF5 or JSON.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <vector>

namespace shrike {

class BytePacker {
 public:
  template <typename T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* bytes = reinterpret_cast<const unsigned char*>(&value);
    buffer_.insert(buffer_.end(), bytes, bytes + sizeof(T));
  }
  template <typename T>
  void put_vector(const std::vector<T>& values) {
    static_assert(std::is_trivially_copyable_v<T>);
    put<std::uint64_t>(values.size());
    const auto* bytes = reinterpret_cast<const unsigned char*>(values.data());
    buffer_.insert(buffer_.end(), bytes, bytes + values.size() * sizeof(T));
  }
  void put_bytes(std::span<const unsigned char> bytes) {
    put<std::uint64_t>(bytes.size());
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  }
  std::vector<unsigned char>& bytes() { return buffer_; }

 private:
  std::vector<unsigned char> buffer_;
};

// Reads what a BytePacker wrote, in the same order; a short buffer throws.
class ByteUnpacker {
 public:
  explicit ByteUnpacker(std::span<const unsigned char> bytes) : bytes_(bytes) {}

  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  template <typename T>
  std::vector<T> get_vector() {
    const auto count = get<std::uint64_t>();
    if (count > bytes_.size() / std::max<std::size_t>(sizeof(T), 1)) throw std::runtime_error("ByteUnpacker: bad count");
    std::vector<T> values(count);
    std::memcpy(values.data(), take(count * sizeof(T)), count * sizeof(T));
    return values;
  }
  std::span<const unsigned char> get_bytes() {
    const auto count = get<std::uint64_t>();
    const unsigned char* start = take(count);
    return {start, count};
  }
  bool done() const { return offset_ == bytes_.size(); }

 private:
  const unsigned char* take(std::size_t count) {
    if (count > bytes_.size() - offset_) throw std::runtime_error("ByteUnpacker: truncated buffer");
    const unsigned char* start = bytes_.data() + offset_;
    offset_ += count;
    return start;
  }

  std::span<const unsigned char> bytes_;
  std::size_t offset_ = 0;
};

}  // namespace shrike
