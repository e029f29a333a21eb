// kernels/detect_decode_cuda.h
//
// CUDA twin of detect_decode.h: the Detect head's inference decode (DFL expectation,
// anchor-relative boxes to (cx, cy, w, h) in input pixels, sigmoid class scores) from
// the raw head maps on the device to the anchor-major (batch, A, 4 + nc) fp32 tensor
// that NMS reads (kernels/nms_cuda.h). Head maps are float or __nv_bfloat16; the
// arithmetic is fp32 in the CPU reference's operation order, the output always fp32.
// Never synchronises the stream.
//
// Two entry points: detect_decode_cuda takes the CPU's std::span<const HeadLevel<T>>
// (for C++20 callers; the CUDA sources compile as C++17 and cannot see std::span), and
// forwards to detect_decode_levels_cuda, which takes the levels packed by value.
#pragma once

#include <cuda_runtime.h>

#if __cplusplus >= 202002L
#include <span>
#include <stdexcept>
#include <string>

#include "kernels/detect_loss.h"  // HeadLevel
#endif

namespace shrike::kernels {

inline constexpr int kMaxDecodeLevelsCuda = 8;

// The head levels, in order, passed to the kernel by value. data[l]: device NCHW
// (batch, 4*reg_max + nc, h[l], w[l]); stride[l]: the level's stride in input pixels.
template <typename T>
struct DecodeLevelsCuda {
  int count = 0;
  const T* data[kMaxDecodeLevelsCuda] = {};
  int h[kMaxDecodeLevelsCuda] = {}, w[kMaxDecodeLevelsCuda] = {}, stride[kMaxDecodeLevelsCuda] = {};
};

// out: device (batch, A, 4 + nc), A = sum of h * w, every entry written. reg_max in
// [1, 64] and levels.count in [0, kMaxDecodeLevelsCuda], else std::invalid_argument.
// T = float or __nv_bfloat16.
template <typename T>
void detect_decode_levels_cuda(float* out, const DecodeLevelsCuda<T>& levels, int batch, int nc, int reg_max,
                               cudaStream_t stream);

#if __cplusplus >= 202002L
// The CPU signature's form: levels[l].data are device pointers.
template <typename T>
void detect_decode_cuda(float* out, std::span<const HeadLevel<T>> levels, int batch, int nc, int reg_max,
                        cudaStream_t stream) {
  if (levels.size() > static_cast<std::size_t>(kMaxDecodeLevelsCuda))
    throw std::invalid_argument("detect_decode_cuda: " + std::to_string(levels.size()) + " head levels, at most " +
                                std::to_string(kMaxDecodeLevelsCuda) + " are supported");
  DecodeLevelsCuda<T> packed;
  packed.count = static_cast<int>(levels.size());
  for (int l = 0; l < packed.count; ++l) {
    packed.data[l] = levels[l].data;
    packed.h[l] = levels[l].h;
    packed.w[l] = levels[l].w;
    packed.stride[l] = levels[l].stride;
  }
  detect_decode_levels_cuda(out, packed, batch, nc, reg_max, stream);
}
#endif

}  // namespace shrike::kernels
