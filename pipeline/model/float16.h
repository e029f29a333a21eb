// pipeline/model/float16.h
//
// IEEE 754 binary16 (float16) and bfloat16 bit patterns to and from float32, for the
// formats that store half-precision tensors: safetensors (F16, BF16) and ONNX
// (--half, TensorProto FLOAT16 held as uint16 bit patterns).
// Why not a library: g++ 12 has no std::float16_t (C++23), but it does implement the
// `_Float16` type on x86-64 with correct round-to-nearest-even conversion, so the
// conversions below are the compiler's, not ours; only bfloat16 (the upper half of a
// float32's bits) is done by hand, and only read.
#pragma once

#include <cstdint>
#include <cstring>

namespace shrike::model {

inline std::uint16_t float_to_half_bits(float value) {
  const _Float16 half = static_cast<_Float16>(value);  // round to nearest even; overflow -> inf
  std::uint16_t bits;
  std::memcpy(&bits, &half, sizeof bits);
  return bits;
}

inline float half_bits_to_float(std::uint16_t bits) {
  _Float16 half;
  std::memcpy(&half, &bits, sizeof half);
  return static_cast<float>(half);
}

// bfloat16 is the top 16 bits of a float32: widening is exact.
inline float bfloat16_bits_to_float(std::uint16_t bits) {
  const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

}  // namespace shrike::model
