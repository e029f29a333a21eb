// kernels/optimizer_params.h
//
// The plain structs the optimizer's CPU reference (optimizer_update.h) and its CUDA
// twin (optimizer_cuda.h) share: a span of the flat buffers with its parameter group,
// and Adam's settings. Kept apart from optimizer_update.h because that header's
// functions take std::span (C++20), while the CUDA sources compile as C++17 (see
// cmake/ShrikeCuda.cmake) and still need these types.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shrike::kernels {

// A range [offset, offset + count) of the flat parameter / gradient / state buffers,
// updated with the hyperparameters of group `group`.
struct UpdateSpan {
  std::size_t offset = 0;
  std::size_t count = 0;
  std::uint32_t group = 0;
};

struct AdamSettings {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  bool decoupled_weight_decay = true;  // AdamW: p *= 1 - lr * wd; Adam: g += wd * p
  std::int64_t step = 1;               // the step being taken, counted from 1 (bias correction)
};

}  // namespace shrike::kernels
