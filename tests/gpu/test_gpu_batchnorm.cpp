// tests/gpu/test_gpu_batchnorm.cpp: the CUDA batch norm of kernels/batchnorm_cuda.h
// against batchnorm_cpu.cpp (and activation_cpu.cpp for the fused SiLU: the reference is
// CPU BN, then CPU SiLU; backward CPU SiLU backward, then CPU BN backward) on fresh random
// inputs of several shapes, odd ones and one large enough for 128 reduction blocks per
// channel included, fp32 and bf16 (bf16 inputs rounded to bf16 first), with and without
// SiLU. Cases:
//  - train: the two halves in a row (sums, then finish with the local count), batch
//    statistics, running-statistics update, output; the sums bit-identical when run twice;
//  - eval with the running statistics;
//  - backward (sums, then apply with local_sums == sums): dx, dgamma, dbeta;
//  - sync_bn as two ranks would run it: each half of the batch sums its own statistics,
//    the sums are added (the all-reduce), both finish with the global count; the halves'
//    outputs and dx must equal the CPU on the whole batch, and the halves' dgamma and
//    dbeta (from their local sums) must add up to the whole batch's.
// Tolerances (|got - expected| <= atol + rtol * |expected|):
//   statistics (mean, var, invstd, running mean and var; fp32 for both types, computed
//   from the same values in double): atol 1e-6, rtol 1e-5;
//   y: fp32 atol 1e-5 * S, rtol 1e-5; bf16 atol 1e-4 * S, rtol 1e-2, where S is the
//     largest |x * gamma * invstd| + |beta| (the size of the terms whose float rounding
//     the two sides do differently);
//   dx: fp32 atol 1e-5 * G, rtol 1e-5; bf16 atol 1e-4 * G, rtol 1e-2, G = largest
//     |gamma * invstd| * largest |g| (the terms that cancel in the formula);
//   dgamma, dbeta (fp32, double sums): atol 1e-5 * largest |expected|, rtol 1e-5.
// Without a usable CUDA device: "SKIPPED: no CUDA device: ..." and exit 77.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "gpu_test_support.h"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/batchnorm_cuda.h"

namespace shrike::gpu_test {
namespace {

using kernels::DeviceArray;
using kernels::Shape4;
using bf16 = __nv_bfloat16;

constexpr float kEps = 1e-3f, kMomentum = 0.03f;  // the reference model's values

DeviceArray<double> upload_doubles(const std::vector<double>& values) {
  auto array = to_device(values);
  CUDA_CHECK(cudaDeviceSynchronize());
  return array;
}
std::vector<float> slice(const std::vector<float>& v, std::size_t begin, std::size_t count) {
  return {v.begin() + static_cast<std::ptrdiff_t>(begin), v.begin() + static_cast<std::ptrdiff_t>(begin + count)};
}
std::vector<float> joined(std::vector<float> a, const std::vector<float>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::abs(x)));
  return m;
}

// One layer's inputs: x with a per-channel offset and spread (as a conv output has),
// gamma, beta, running statistics, and an output gradient.
struct Layer {
  Shape4 s;
  std::vector<float> x, gamma, beta, running_mean, running_var, dy;
};

template <typename T>
Layer random_layer(std::mt19937_64& rng, Shape4 s) {
  Layer l{s, {}, {}, {}, {}, {}, {}};
  const std::size_t channels = static_cast<std::size_t>(s.c);
  const auto offset = random_floats(rng, channels, -1.0f, 2.0f);
  const auto spread = random_floats(rng, channels, 0.5f, 2.0f);
  l.x = random_floats(rng, s.numel());
  for (std::size_t i = 0; i < l.x.size(); ++i) {
    const std::size_t c = (i / s.plane()) % channels;
    l.x[i] = offset[c] + spread[c] * l.x[i];
  }
  l.x = representable<T>(std::move(l.x));
  l.dy = representable<T>(random_floats(rng, s.numel()));
  l.gamma = random_floats(rng, channels, 0.5f, 1.5f);
  l.beta = random_floats(rng, channels, -0.5f, 0.5f);
  l.running_mean = random_floats(rng, channels, -0.2f, 0.2f);
  l.running_var = random_floats(rng, channels, 0.5f, 2.0f);
  return l;
}

// The CPU reference of one training step of the layer: forward (BN, then SiLU), running
// update, backward (SiLU backward, then BN backward).
struct Reference {
  std::vector<float> y, mean, var, invstd, running_mean, running_var, dx, dgamma, dbeta;
  double y_scale = 0, dx_scale = 0;  // S and G of the header comment
};

Reference cpu_reference(const Layer& l, bool silu) {
  const Shape4 s = l.s;
  const std::size_t channels = static_cast<std::size_t>(s.c);
  Reference r;
  std::vector<float> z(s.numel());
  r.mean.resize(channels);
  r.var.resize(channels);
  r.invstd.resize(channels);
  kernels::batchnorm_train_forward_cpu<float>(z.data(), r.mean.data(), r.var.data(), r.invstd.data(), l.x.data(),
                                              l.gamma.data(), l.beta.data(), s, kEps);
  r.running_mean = l.running_mean;
  r.running_var = l.running_var;
  kernels::batchnorm_update_running_cpu<float>(r.running_mean.data(), r.running_var.data(), r.mean.data(),
                                               r.var.data(), s, kMomentum);
  r.y = z;
  if (silu) kernels::silu_forward_cpu<float>(r.y.data(), z.data(), z.size());
  std::vector<float> g = l.dy;
  if (silu) kernels::silu_backward_cpu<float>(g.data(), l.dy.data(), z.data(), z.size());
  r.dx.resize(s.numel());
  r.dgamma.resize(channels);
  r.dbeta.resize(channels);
  kernels::batchnorm_train_backward_cpu<float>(r.dx.data(), r.dgamma.data(), r.dbeta.data(), g.data(), l.x.data(),
                                               r.mean.data(), r.invstd.data(), l.gamma.data(), s);
  double max_k = 0;
  for (std::size_t c = 0; c < channels; ++c) max_k = std::max(max_k, std::abs(double{l.gamma[c]} * r.invstd[c]));
  for (std::size_t i = 0; i < l.x.size(); ++i) {
    const std::size_t c = (i / s.plane()) % channels;
    r.y_scale = std::max(r.y_scale, std::abs(double{l.x[i]} * l.gamma[c] * r.invstd[c]) + std::abs(l.beta[c]));
  }
  r.dx_scale = max_k * max_abs(g);
  return r;
}

template <typename T>
struct Tolerance {
  static constexpr bool kBf16 = std::is_same_v<T, bf16>;
  static constexpr double kYAtol = kBf16 ? 1e-4 : 1e-5, kRtol = kBf16 ? 1e-2 : 1e-5;
};

void compare_statistics(Report& report, const std::string& tag, const std::vector<float>& mean,
                        const std::vector<float>& var, const std::vector<float>& invstd,
                        const std::vector<float>& running_mean, const std::vector<float>& running_var,
                        const Reference& r) {
  report.compare("mean " + tag, mean, r.mean, 1e-6, 1e-5);
  report.compare("var " + tag, var, r.var, 1e-6, 1e-5);
  report.compare("invstd " + tag, invstd, r.invstd, 1e-6, 1e-5);
  report.compare("running_mean " + tag, running_mean, r.running_mean, 1e-6, 1e-5);
  report.compare("running_var " + tag, running_var, r.running_var, 1e-6, 1e-5);
}

template <typename T>
void compare_gradients(Report& report, const std::string& tag, const std::vector<float>& dx,
                       const std::vector<float>& dgamma, const std::vector<float>& dbeta, const Reference& r) {
  report.compare("dx " + tag, dx, r.dx, Tolerance<T>::kYAtol * r.dx_scale, Tolerance<T>::kRtol);
  report.compare("dgamma " + tag, dgamma, r.dgamma, 1e-5 * max_abs(r.dgamma), 1e-5);
  report.compare("dbeta " + tag, dbeta, r.dbeta, 1e-5 * max_abs(r.dbeta), 1e-5);
}

// Train forward, eval forward and backward of one layer, the statistics of this batch only.
template <typename T>
void test_layer(Report& report, std::mt19937_64& rng, cudaStream_t stream, Shape4 s, bool silu) {
  const std::string tag = std::string(type_name<T>()) + (silu ? " +silu " : " ") + s.str();
  const Layer l = random_layer<T>(rng, s);
  const Reference r = cpu_reference(l, silu);
  const std::size_t channels = static_cast<std::size_t>(s.c);
  const double count = static_cast<double>(s.n) * s.plane();

  auto x = upload<T>(l.x), dy = upload<T>(l.dy);
  auto gamma = upload<float>(l.gamma), beta = upload<float>(l.beta);
  auto running_mean = upload<float>(l.running_mean), running_var = upload<float>(l.running_var);
  DeviceArray<double> sums(2 * channels), again(2 * channels);
  DeviceArray<float> mean(channels), var(channels), invstd(channels);
  DeviceArray<T> y(s.numel());

  // Train forward: the two halves in a row.
  kernels::batchnorm_forward_sums_cuda<T>(sums.data(), x.data(), s, stream);
  kernels::batchnorm_finish_stats_cuda(mean.data(), var.data(), invstd.data(), running_mean.data(),
                                       running_var.data(), sums.data(), s.c, count, kEps, kMomentum, stream);
  kernels::batchnorm_apply_cuda<T>(y.data(), x.data(), mean.data(), invstd.data(), gamma.data(), beta.data(), s, silu,
                                   stream);
  compare_statistics(report, tag, to_host(mean), to_host(var), to_host(invstd), to_host(running_mean),
                     to_host(running_var), r);
  report.compare("y " + tag, download(y), representable<T>(r.y), Tolerance<T>::kYAtol * r.y_scale,
                 Tolerance<T>::kRtol);
  kernels::batchnorm_forward_sums_cuda<T>(again.data(), x.data(), s, stream);
  report.check("forward sums deterministic " + tag, to_host(sums) == to_host(again));

  // Eval forward with the (host) running statistics of the layer.
  std::vector<float> expected(s.numel());
  kernels::batchnorm_eval_forward_cpu<float>(expected.data(), l.x.data(), l.gamma.data(), l.beta.data(),
                                             l.running_mean.data(), l.running_var.data(), s, kEps);
  if (silu) kernels::silu_forward_cpu<float>(expected.data(), expected.data(), expected.size());
  auto eval_mean = upload<float>(l.running_mean), eval_var = upload<float>(l.running_var);
  kernels::batchnorm_eval_forward_cuda<T>(y.data(), x.data(), gamma.data(), beta.data(), eval_mean.data(),
                                          eval_var.data(), s, kEps, silu, stream);
  report.compare("eval y " + tag, download(y), representable<T>(expected), Tolerance<T>::kYAtol * r.y_scale,
                 Tolerance<T>::kRtol);

  // Backward with the CPU's statistics (so that only the backward is compared).
  auto cpu_mean = upload<float>(r.mean), cpu_invstd = upload<float>(r.invstd);
  DeviceArray<T> dx(s.numel());
  DeviceArray<float> dgamma(channels), dbeta(channels);
  kernels::batchnorm_backward_sums_cuda<T>(sums.data(), dy.data(), x.data(), cpu_mean.data(), cpu_invstd.data(),
                                           gamma.data(), beta.data(), s, silu, stream);
  kernels::batchnorm_backward_apply_cuda<T>(dx.data(), dgamma.data(), dbeta.data(), sums.data(), sums.data(), count,
                                            dy.data(), x.data(), cpu_mean.data(), cpu_invstd.data(), gamma.data(),
                                            beta.data(), s, silu, stream);
  compare_gradients<T>(report, tag, download(dx), to_host(dgamma), to_host(dbeta), r);
  kernels::batchnorm_backward_sums_cuda<T>(again.data(), dy.data(), x.data(), cpu_mean.data(), cpu_invstd.data(),
                                           gamma.data(), beta.data(), s, silu, stream);
  report.check("backward sums deterministic " + tag, to_host(sums) == to_host(again));
}

// sync_bn with two ranks of equal batch, simulated on one device: the batch cut into two
// halves along N, sums added on the host in place of the NCCL all-reduce.
template <typename T>
void test_sync_halves(Report& report, std::mt19937_64& rng, cudaStream_t stream, Shape4 s, bool silu) {
  const std::string tag = std::string(type_name<T>()) + (silu ? " +silu " : " ") + "sync 2x" +
                          Shape4{s.n / 2, s.c, s.h, s.w}.str();
  const Layer l = random_layer<T>(rng, s);
  const Reference r = cpu_reference(l, silu);
  const std::size_t channels = static_cast<std::size_t>(s.c);
  const Shape4 half{s.n / 2, s.c, s.h, s.w};
  const std::size_t half_numel = half.numel();
  const double global_count = static_cast<double>(s.n) * s.plane();

  auto gamma = upload<float>(l.gamma), beta = upload<float>(l.beta);
  auto running_mean = upload<float>(l.running_mean), running_var = upload<float>(l.running_var);
  DeviceArray<float> mean(channels), var(channels), invstd(channels);
  DeviceArray<T> x[2] = {upload<T>(slice(l.x, 0, half_numel)), upload<T>(slice(l.x, half_numel, half_numel))};
  DeviceArray<T> dy[2] = {upload<T>(slice(l.dy, 0, half_numel)), upload<T>(slice(l.dy, half_numel, half_numel))};
  DeviceArray<double> local[2] = {DeviceArray<double>(2 * channels), DeviceArray<double>(2 * channels)};
  auto all_reduce = [&]() {
    const auto a = to_host(local[0]), b = to_host(local[1]);
    std::vector<double> total(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) total[i] = a[i] + b[i];
    return upload_doubles(total);
  };

  for (int rank = 0; rank < 2; ++rank) {
    kernels::batchnorm_forward_sums_cuda<T>(local[rank].data(), x[rank].data(), half, stream);
  }
  const DeviceArray<double> total = all_reduce();
  kernels::batchnorm_finish_stats_cuda(mean.data(), var.data(), invstd.data(), running_mean.data(),
                                       running_var.data(), total.data(), s.c, global_count, kEps, kMomentum, stream);
  DeviceArray<T> y[2] = {DeviceArray<T>(half_numel), DeviceArray<T>(half_numel)};
  for (int rank = 0; rank < 2; ++rank) {
    kernels::batchnorm_apply_cuda<T>(y[rank].data(), x[rank].data(), mean.data(), invstd.data(), gamma.data(),
                                     beta.data(), half, silu, stream);
  }
  compare_statistics(report, tag, to_host(mean), to_host(var), to_host(invstd), to_host(running_mean),
                     to_host(running_var), r);
  report.compare("y " + tag, joined(download(y[0]), download(y[1])), representable<T>(r.y),
                 Tolerance<T>::kYAtol * r.y_scale, Tolerance<T>::kRtol);

  // Backward with this (GPU) run's statistics, as a real step would.
  for (int rank = 0; rank < 2; ++rank) {
    kernels::batchnorm_backward_sums_cuda<T>(local[rank].data(), dy[rank].data(), x[rank].data(), mean.data(),
                                             invstd.data(), gamma.data(), beta.data(), half, silu, stream);
  }
  const DeviceArray<double> grad_total = all_reduce();
  DeviceArray<T> dx[2] = {DeviceArray<T>(half_numel), DeviceArray<T>(half_numel)};
  std::vector<float> dgamma(channels, 0.0f), dbeta(channels, 0.0f);
  for (int rank = 0; rank < 2; ++rank) {
    DeviceArray<float> rank_dgamma(channels), rank_dbeta(channels);
    kernels::batchnorm_backward_apply_cuda<T>(dx[rank].data(), rank_dgamma.data(), rank_dbeta.data(),
                                              grad_total.data(), local[rank].data(), global_count, dy[rank].data(),
                                              x[rank].data(), mean.data(), invstd.data(), gamma.data(), beta.data(),
                                              half, silu, stream);
    const auto g = to_host(rank_dgamma), b = to_host(rank_dbeta);
    for (std::size_t c = 0; c < channels; ++c) {
      dgamma[c] += g[c];  // the data-parallel gradient all-reduce
      dbeta[c] += b[c];
    }
  }
  compare_gradients<T>(report, tag, joined(download(dx[0]), download(dx[1])), dgamma, dbeta, r);
}

template <typename T>
void test_type(Report& report, std::mt19937_64& rng, cudaStream_t stream) {
  // Planes smaller than a reduction block with many values per channel ({300, 2, 1, 1},
  // {64, 3, 3, 5}) walk several planes per step; {2, 2, 1200, 1000} uses 128 blocks.
  const Shape4 shapes[] = {{1, 1, 1, 1},   {2, 3, 1, 1},    {300, 2, 1, 1},   {3, 7, 5, 9},      {64, 3, 3, 5},
                           {4, 16, 33, 17}, {8, 64, 20, 20}, {2, 5, 160, 161}, {2, 2, 1200, 1000}};
  for (bool silu : {false, true}) {
    for (const Shape4& s : shapes) test_layer<T>(report, rng, stream, s, silu);
    test_sync_halves<T>(report, rng, stream, {8, 6, 11, 13}, silu);
    test_sync_halves<T>(report, rng, stream, {4, 32, 40, 40}, silu);
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
