// tests/gpu/test_gpu_elementwise.cpp: every op of kernels/elementwise_cuda.h against its
// CPU reference (activation_cpu.cpp, elementwise_cpu.cpp; for the bias, the casts and the
// image conversion the plain formula, written here) on fresh random inputs of several
// sizes, odd ones included, in fp32 and bf16. bf16 inputs are rounded to bf16 first, so
// the reference sees exactly what the kernel sees.
// Tolerances (worst |got - expected| <= atol + rtol * |expected|):
//   fp32: SiLU forward/backward atol 1e-6, rtol 1e-5 (expf vs the CPU's fast_exp);
//         add, accumulate, bias add, copies, casts, image conversion: exact;
//         bias gradient (double sums on both sides) atol 1e-5, rtol 1e-6.
//   bf16: computed results atol 1e-6, rtol 1e-2 (a few bf16 ulps, 2^-8 = 0.0039 each);
//         copies and casts: exact (the kernel rounds to nearest even, as the host does);
//         bias gradient as fp32 (its output is fp32).
// Without a usable CUDA device: "SKIPPED: no CUDA device: ..." and exit 77.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "gpu_test_support.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/elementwise_cuda.h"

namespace shrike::gpu_test {
namespace {

using kernels::bf16;
using kernels::DeviceArray;
using kernels::Shape4;

constexpr double kExact = 1e-30;  // as atol with rtol 0: any difference fails

// The values a T tensor can hold: bf16 cases round their inputs first.
// Rounds an fp32 reference result as the kernel's store does.
template <typename T>
std::vector<float> stored(std::vector<float> values) {
  return representable<T>(std::move(values));
}
template <typename T>
double computed_rtol(double fp32_rtol) {
  return std::is_same_v<T, bf16> ? 1e-2 : fp32_rtol;
}

const std::size_t kSizes[] = {1, 3, 7, 33, 65, 1000, (1u << 20) + 3};
const Shape4 kShapes[] = {{1, 1, 1, 1}, {2, 3, 7, 5}, {3, 17, 13, 11}, {2, 33, 65, 3}, {4, 64, 40, 40}};

template <typename T>
void test_pointwise(Report& report, std::mt19937_64& rng, cudaStream_t stream) {
  for (std::size_t n : kSizes) {
    const std::string tag = std::string(type_name<T>()) + " n=" + std::to_string(n);
    const auto x = representable<T>(random_floats(rng, n, -8.0f, 8.0f));
    const auto y = representable<T>(random_floats(rng, n));
    auto d_x = upload<T>(x), d_y = upload<T>(y);
    DeviceArray<T> d_out(n);

    std::vector<float> expected(n);
    kernels::silu_forward_cpu<float>(expected.data(), x.data(), n);
    kernels::silu_forward_cuda<T>(d_out.data(), d_x.data(), n, stream);
    report.compare("silu_forward " + tag, download(d_out), stored<T>(expected), 1e-6, computed_rtol<T>(1e-5));

    kernels::silu_backward_cpu<float>(expected.data(), y.data(), x.data(), n);
    kernels::silu_backward_cuda<T>(d_out.data(), d_y.data(), d_x.data(), n, stream);
    report.compare("silu_backward " + tag, download(d_out), stored<T>(expected), 1e-6, computed_rtol<T>(1e-5));

    kernels::add_cpu(expected.data(), x.data(), y.data(), n);
    kernels::add_cuda<T>(d_out.data(), d_x.data(), d_y.data(), n, stream);
    report.compare("add " + tag, download(d_out), stored<T>(expected), 1e-6, computed_rtol<T>(0));

    expected = x;
    kernels::accumulate_cpu(expected.data(), y.data(), n);
    kernels::accumulate_cuda<T>(d_x.data(), d_y.data(), n, stream);  // d_x += y
    report.compare("accumulate " + tag, download(d_x), stored<T>(expected), 1e-6, computed_rtol<T>(0));

    // accumulate_to_float: fp32 acc += float(x), or acc = float(x).
    const auto acc = random_floats(rng, n);
    auto d_acc = upload<float>(acc);
    for (std::size_t i = 0; i < n; ++i) expected[i] = acc[i] + y[i];
    kernels::accumulate_to_float_cuda<T>(d_acc.data(), d_y.data(), n, false, stream);
    report.compare("accumulate_to_float " + tag, to_host(d_acc), expected, kExact, 0);
    kernels::accumulate_to_float_cuda<T>(d_acc.data(), d_y.data(), n, true, stream);
    report.compare("accumulate_to_float overwrite " + tag, to_host(d_acc), y, kExact, 0);
  }
}

void test_casts(Report& report, std::mt19937_64& rng, cudaStream_t stream) {
  for (std::size_t n : kSizes) {
    const std::string tag = " n=" + std::to_string(n);
    auto values = random_floats(rng, n, -300.0f, 300.0f);
    // Exact ties between two bf16 values: round to nearest even picks the even one.
    const float ties[] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.0f - 0x1p-7f, 0.0f, -0.0f};
    for (std::size_t i = 0; i < n && i < std::size(ties); ++i) values[i] = ties[i];
    auto d_f32 = upload<float>(values);
    DeviceArray<bf16> d_bf16(n);
    DeviceArray<float> d_back(n), d_copy(n);
    DeviceArray<bf16> d_bf16_copy(n);
    kernels::cast_cuda<float, bf16>(d_bf16.data(), d_f32.data(), n, stream);
    report.compare("cast fp32->bf16" + tag, from_bf16(to_host(d_bf16)), round_to_bf16(values), kExact, 0);
    kernels::cast_cuda<bf16, float>(d_back.data(), d_bf16.data(), n, stream);
    report.compare("cast bf16->fp32" + tag, to_host(d_back), round_to_bf16(values), kExact, 0);
    kernels::cast_cuda<float, float>(d_copy.data(), d_f32.data(), n, stream);
    report.compare("cast fp32->fp32" + tag, to_host(d_copy), values, kExact, 0);
    kernels::cast_cuda<bf16, bf16>(d_bf16_copy.data(), d_bf16.data(), n, stream);
    report.compare("cast bf16->bf16" + tag, from_bf16(to_host(d_bf16_copy)), round_to_bf16(values), kExact, 0);
  }
}

template <typename T>
void test_channel_ops(Report& report, std::mt19937_64& rng, cudaStream_t stream) {
  for (const Shape4& s : kShapes) {
    const std::string tag = std::string(type_name<T>()) + " " + s.str();
    const std::size_t plane = s.plane();
    // Concat: src (N, Cs, H, W) into channels [offset, offset + Cs) of dst (N, Cd, H, W);
    // the other channels of dst must keep their values.
    const int offset = s.c % 3, dst_channels = s.c + offset + 2;
    const Shape4 wide{s.n, dst_channels, s.h, s.w};
    const auto src = representable<T>(random_floats(rng, s.numel()));
    const auto dst = representable<T>(random_floats(rng, wide.numel()));
    auto d_src = upload<T>(src), d_dst = upload<T>(dst);
    std::vector<float> expected = dst;
    kernels::copy_into_channels_cpu(expected.data(), dst_channels, offset, src.data(), s);
    kernels::copy_into_channels_cuda<T>(d_dst.data(), dst_channels, offset, d_src.data(), s, stream);
    report.compare("copy_into_channels " + tag, download(d_dst), expected, kExact, 0);

    // Split: channels [offset, offset + C) of the wide tensor into (N, C, H, W).
    std::vector<float> part(s.numel());
    kernels::copy_from_channels_cpu(part.data(), s, expected.data(), dst_channels, offset + 1);
    DeviceArray<T> d_part(s.numel());
    kernels::copy_from_channels_cuda<T>(d_part.data(), s, d_dst.data(), dst_channels, offset + 1, stream);
    report.compare("copy_from_channels " + tag, download(d_part), part, kExact, 0);

    // Bias: y += bias[c]; db[c] = sum over (n, h, w) of dy.
    const auto y = representable<T>(random_floats(rng, s.numel()));
    const auto bias = random_floats(rng, static_cast<std::size_t>(s.c));
    auto d_y = upload<T>(y);
    auto d_bias = upload<float>(bias);
    std::vector<float> biased(y.size());
    std::vector<double> db_expected(static_cast<std::size_t>(s.c), 0.0);
    for (std::size_t i = 0; i < y.size(); ++i) {
      const std::size_t c = (i / plane) % static_cast<std::size_t>(s.c);
      biased[i] = y[i] + bias[c];
      db_expected[c] += y[i];
    }
    kernels::add_channel_bias_cuda<T>(d_y.data(), d_bias.data(), s, stream);
    report.compare("add_channel_bias " + tag, download(d_y), stored<T>(biased), 1e-6, computed_rtol<T>(0));
    auto d_dy = upload<T>(y);
    DeviceArray<float> d_db(static_cast<std::size_t>(s.c));
    kernels::channel_bias_grad_cuda<T>(d_db.data(), d_dy.data(), s, stream);
    report.compare("channel_bias_grad " + tag, to_host(d_db),
                   std::vector<float>(db_expected.begin(), db_expected.end()), 1e-5, 1e-6);
  }
}

template <typename T>
void test_images(Report& report, std::mt19937_64& rng, cudaStream_t stream) {
  const int cases[][3] = {{1, 1, 1}, {2, 7, 5}, {3, 33, 65}, {4, 640, 640}};
  for (const auto& c : cases) {
    const int n = c[0], h = c[1], w = c[2];
    const std::size_t plane = static_cast<std::size_t>(h) * w;
    std::vector<unsigned char> pixels(static_cast<std::size_t>(n) * plane * 3);
    for (auto& p : pixels) p = static_cast<unsigned char>(rng());
    kernels::DeviceArray<unsigned char> d_pixels = to_device(pixels);
    CUDA_CHECK(cudaDeviceSynchronize());
    DeviceArray<T> d_out(pixels.size());
    // The CPU loader's formula (pipeline/data/batch_loader.cpp, hwc_u8_to_nchw_f32).
    std::vector<float> expected(pixels.size());
    for (int b = 0; b < n; ++b) {
      for (std::size_t i = 0; i < plane; ++i) {
        for (int ch = 0; ch < 3; ++ch) {
          expected[(static_cast<std::size_t>(b) * 3 + ch) * plane + i] =
              static_cast<float>(pixels[(static_cast<std::size_t>(b) * plane + i) * 3 + ch]) / 255.0f;
        }
      }
    }
    kernels::images_u8_to_nchw_cuda<T>(d_out.data(), d_pixels.data(), n, h, w, stream);
    report.compare(std::string("images_u8_to_nchw ") + type_name<T>() + " " + std::to_string(n) + "x" +
                       std::to_string(h) + "x" + std::to_string(w),
                   download(d_out), stored<T>(expected), kExact, 0);
  }
}

}  // namespace
}  // namespace shrike::gpu_test

int main() {
  using namespace shrike::gpu_test;
  return run_gpu_test([](Report& report, std::mt19937_64& rng, cudaStream_t stream) {
    test_pointwise<float>(report, rng, stream);
    test_pointwise<shrike::kernels::bf16>(report, rng, stream);
    test_casts(report, rng, stream);
    test_channel_ops<float>(report, rng, stream);
    test_channel_ops<shrike::kernels::bf16>(report, rng, stream);
    test_images<float>(report, rng, stream);
    test_images<shrike::kernels::bf16>(report, rng, stream);
  });
}
