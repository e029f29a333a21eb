// tests/gpu/test_gpu_resize.cpp: the CUDA resize equals the CPU reference exactly on
// fresh random images of several shapes (up- and downscaling, odd sizes).
// Without a usable CUDA device it prints why and exits 77, which ctest reports as
// skipped (SKIP_RETURN_CODE), never as passed.
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/device.h"
#include "kernels/resize.h"

#ifdef SHRIKE_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/cuda_check.h"
#endif

int main() {
  using namespace shrike::kernels;
  if (cuda_device_count() == 0) {
    std::printf("SKIPPED: %s\n", cuda_unavailable_reason().c_str());
    return 77;
  }
#ifdef SHRIKE_WITH_CUDA
  std::printf("device: %s\n", cuda_device_description(0).c_str());
  std::mt19937 rng(std::random_device{}());
  const ImageShape cases[][2] = {{{480, 640, 3}, {240, 320, 3}}, {{333, 517, 3}, {640, 427, 3}},
                                 {{17, 9, 3}, {640, 331, 3}},    {{1080, 1920, 3}, {360, 640, 3}},
                                 {{100, 100, 1}, {37, 73, 1}}};
  int failures = 0;
  for (const auto& c : cases) {
    const ImageShape src_shape = c[0], dst_shape = c[1];
    std::vector<std::uint8_t> src(src_shape.bytes());
    for (auto& v : src) v = static_cast<std::uint8_t>(rng());
    std::vector<std::uint8_t> expected(dst_shape.bytes()), got(dst_shape.bytes());
    resize_bilinear_u8_cpu(expected.data(), dst_shape, src.data(), src_shape);
    std::uint8_t *d_src = nullptr, *d_dst = nullptr;
    CUDA_CHECK(cudaMalloc(&d_src, src.size()));
    CUDA_CHECK(cudaMalloc(&d_dst, got.size()));
    CUDA_CHECK(cudaMemcpy(d_src, src.data(), src.size(), cudaMemcpyHostToDevice));
    resize_bilinear_u8_cuda(d_dst, dst_shape, d_src, src_shape, nullptr);
    CUDA_CHECK(cudaMemcpy(got.data(), d_dst, got.size(), cudaMemcpyDeviceToHost));
    CUDA_CHECK(cudaFree(d_src));
    CUDA_CHECK(cudaFree(d_dst));
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < got.size(); ++i) mismatches += got[i] != expected[i];
    std::printf("%dx%dx%d -> %dx%d: %zu mismatches\n", src_shape.height, src_shape.width, src_shape.channels,
                dst_shape.height, dst_shape.width, mismatches);
    failures += mismatches != 0;
  }
  std::printf(failures ? "FAILED\n" : "PASSED\n");
  return failures ? 1 : 0;
#else
  return 77;
#endif
}
