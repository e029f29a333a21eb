// tests/gpu/test_gpu_pool.cpp: max pooling (with argmax) and nearest upsampling of
// kernels/pool_cuda.h against pool_cpu.cpp and upsample_cpu.cpp on fresh random inputs:
// SPPF's kernel 5 / stride 1 / padding 2 (overlapping windows, so several outputs pick
// one input and the backward gather must add them), strided and unpadded geometries, odd
// sizes, a 1x1 plane; fp32 and bf16 (inputs rounded to bf16 first). Each geometry also
// runs on inputs drawn from {0, 1, 2}, where windows are full of ties, to check the
// first-maximum-in-scan-order rule.
// Tolerances: none. The forward passes copy values, and argmax is an index: both must be
// equal. The backward passes add the same fp32 values in the same order as the CPU, so
// fp32 must be bit-equal and bf16 must equal the CPU's fp32 result rounded to bf16.
// Without a usable CUDA device: "SKIPPED: no CUDA device: ..." and exit 77.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "gpu_test_support.h"
#include "kernels/pool.h"
#include "kernels/pool_cuda.h"
#include "kernels/upsample.h"

namespace shrike::gpu_test {
namespace {

using kernels::DeviceArray;
using kernels::PoolGeometry;
using kernels::Shape4;
using bf16 = __nv_bfloat16;

constexpr double kExact = 1e-30;  // as atol with rtol 0: any difference fails

std::vector<float> small_integers(std::mt19937_64& rng, std::size_t n) {
  std::uniform_int_distribution<int> dist(0, 2);
  std::vector<float> values(n);
  for (auto& v : values) v = static_cast<float>(dist(rng));
  return values;
}
std::string geometry_name(const PoolGeometry& g) {
  return g.input.str() + " k" + std::to_string(g.kernel) + " s" + std::to_string(g.stride) + " p" +
         std::to_string(g.padding);
}

template <typename T>
void test_maxpool(Report& report, std::mt19937_64& rng, cudaStream_t stream, const PoolGeometry& g, bool ties) {
  const std::string tag = std::string(type_name<T>()) + (ties ? " ties " : " ") + geometry_name(g);
  const Shape4 out = g.output();
  const auto x = representable<T>(ties ? small_integers(rng, g.input.numel()) : random_floats(rng, g.input.numel()));
  const auto dy = representable<T>(random_floats(rng, out.numel()));

  std::vector<float> y(out.numel()), dx(g.input.numel());
  std::vector<std::int32_t> argmax(out.numel());
  kernels::maxpool_forward_cpu<float>(y.data(), argmax.data(), x.data(), g);
  kernels::maxpool_backward_cpu<float>(dx.data(), dy.data(), argmax.data(), g);

  auto d_x = upload<T>(x), d_dy = upload<T>(dy);
  DeviceArray<T> d_y(out.numel()), d_dx(g.input.numel());
  DeviceArray<std::int32_t> d_argmax(out.numel());
  kernels::maxpool_forward_cuda<T>(d_y.data(), d_argmax.data(), d_x.data(), g, stream);
  report.compare("maxpool y " + tag, download(d_y), y, kExact, 0);
  const auto got_argmax = to_host(d_argmax);
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < argmax.size(); ++i) mismatches += got_argmax[i] != argmax[i];
  report.check("maxpool argmax " + tag, mismatches == 0, std::to_string(mismatches) + " mismatches");

  // Backward from the CPU's argmax, so that a forward mismatch is not counted twice.
  auto d_cpu_argmax = to_device(argmax);
  CUDA_CHECK(cudaDeviceSynchronize());
  CUDA_CHECK(cudaMemsetAsync(d_dx.data(), 0x7f, d_dx.bytes(), stream));  // dx must be written, not accumulated
  kernels::maxpool_backward_cuda<T>(d_dx.data(), d_dy.data(), d_cpu_argmax.data(), g, stream);
  report.compare("maxpool dx " + tag, download(d_dx), representable<T>(dx), kExact, 0);
}

template <typename T>
void test_upsample(Report& report, std::mt19937_64& rng, cudaStream_t stream, Shape4 in, int f) {
  const std::string tag = std::string(type_name<T>()) + " " + in.str() + " x" + std::to_string(f);
  const std::size_t out_numel = in.numel() * static_cast<std::size_t>(f) * f;
  const auto x = representable<T>(random_floats(rng, in.numel()));
  const auto dy = representable<T>(random_floats(rng, out_numel));
  std::vector<float> y(out_numel), dx(in.numel());
  kernels::upsample_nearest_forward_cpu<float>(y.data(), x.data(), in, f);
  kernels::upsample_nearest_backward_cpu<float>(dx.data(), dy.data(), in, f);

  auto d_x = upload<T>(x), d_dy = upload<T>(dy);
  DeviceArray<T> d_y(out_numel), d_dx(in.numel());
  CUDA_CHECK(cudaMemsetAsync(d_dx.data(), 0x7f, d_dx.bytes(), stream));  // dx must be written, not accumulated
  kernels::upsample_nearest_forward_cuda<T>(d_y.data(), d_x.data(), in, f, stream);
  kernels::upsample_nearest_backward_cuda<T>(d_dx.data(), d_dy.data(), in, f, stream);
  report.compare("upsample y " + tag, download(d_y), y, kExact, 0);
  report.compare("upsample dx " + tag, download(d_dx), representable<T>(dx), kExact, 0);
}

template <typename T>
void test_type(Report& report, std::mt19937_64& rng, cudaStream_t stream) {
  const PoolGeometry pools[] = {
      {{1, 1, 1, 1}, 5, 1, 2},    {{2, 3, 7, 9}, 5, 1, 2},   {{2, 4, 20, 20}, 5, 1, 2}, {{1, 3, 33, 65}, 5, 1, 2},
      {{3, 5, 13, 11}, 3, 2, 1},  {{2, 2, 8, 8}, 2, 2, 0},   {{2, 3, 9, 7}, 3, 3, 0},   {{1, 2, 6, 5}, 4, 2, 2},
      {{16, 128, 20, 20}, 5, 1, 2}};
  for (const PoolGeometry& g : pools) {
    test_maxpool<T>(report, rng, stream, g, false);
    test_maxpool<T>(report, rng, stream, g, true);
  }
  const Shape4 inputs[] = {{1, 1, 1, 1}, {2, 3, 7, 5}, {1, 2, 20, 20}, {8, 64, 40, 40}};
  for (const Shape4& in : inputs) {
    test_upsample<T>(report, rng, stream, in, 2);
    test_upsample<T>(report, rng, stream, in, 3);
  }
}

}  // namespace
}  // namespace shrike::gpu_test

int main() {
  using namespace shrike::gpu_test;
  return run_gpu_test([](Report& report, std::mt19937_64& rng, cudaStream_t stream) {
    test_type<float>(report, rng, stream);
    test_type<__nv_bfloat16>(report, rng, stream);
  });
}
