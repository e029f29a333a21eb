// kernels/tensor.h
//
// The shape of an activation: every tensor in the network graph is float32
// (batch, channels, height, width), contiguous, in NCHW order unless a kernel says it
// takes NHWC (kernels/layout.h: the CPU engine's order). Kernels take raw pointers
// plus shapes; this is the one shape type they share.
#pragma once

#include <cstddef>
#include <string>

namespace shrike::kernels {

struct Shape4 {
  int n = 0, c = 0, h = 0, w = 0;
  std::size_t plane() const { return static_cast<std::size_t>(h) * static_cast<std::size_t>(w); }
  std::size_t numel() const { return static_cast<std::size_t>(n) * static_cast<std::size_t>(c) * plane(); }
  // Written out (not `= default`): the .cu files compile as C++17 (CMake 3.25 cannot ask
  // nvcc 13 for C++20), where defaulted comparisons do not exist.
  bool operator==(const Shape4& o) const { return n == o.n && c == o.c && h == o.h && w == o.w; }
  bool operator!=(const Shape4& o) const { return !(*this == o); }
  std::string str() const {
    return std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
  }
};

}  // namespace shrike::kernels
