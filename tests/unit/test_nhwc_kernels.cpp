// tests/unit/test_nhwc_kernels.cpp: the NHWC forms of the engine's ops (the CPU
// graph's layout, kernels/layout.h) against their NCHW forms on fresh random inputs:
// the data-movement ops exactly (same elements, same summation order), batch norm
// within float rounding of the double reference, batch norm's NHWC backward by finite
// differences, and the fused batch norm + SiLU both ways. The NHWC convolution is
// checked with the NCHW one in test_kernels_ops.cpp. Graph-level equality of the two layouts
// is in test_graph_layout.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/layout.h"
#include "kernels/pool.h"
#include "kernels/upsample.h"
#include "tests/unit/gradient_check.h"

namespace shrike::kernels {
namespace {

using test::dot;
using test::max_fd_error;
using test::random_vector;
using test::rel_l2;

template <typename T>
std::vector<T> to_nhwc(const std::vector<T>& nchw, Shape4 s) {
  std::vector<T> out(nchw.size());
  nchw_to_nhwc_cpu(out.data(), nchw.data(), s);
  return out;
}

template <typename T>
std::vector<T> to_nchw(const std::vector<T>& nhwc, Shape4 s) {
  std::vector<T> out(nhwc.size());
  nhwc_to_nchw_cpu(out.data(), nhwc.data(), s);
  return out;
}

std::vector<float> random_floats(std::size_t n, unsigned seed, double lo = -1.0, double hi = 1.0) {
  const auto v = random_vector(n, seed, lo, hi);
  return std::vector<float>(v.begin(), v.end());
}

TEST(Layout, TransposesPutEveryElementWhereNhwcSaysAndBack) {
  for (const Shape4 s : {Shape4{2, 5, 3, 7}, Shape4{1, 40, 17, 19}, Shape4{3, 1, 2, 33}}) {
    const auto x = random_floats(s.numel(), 1);
    const auto nhwc = to_nhwc(x, s);
    for (int n = 0; n < s.n; ++n)
      for (int c = 0; c < s.c; ++c)
        for (int y = 0; y < s.h; ++y)
          for (int w = 0; w < s.w; ++w) {
            const std::size_t from = ((static_cast<std::size_t>(n) * s.c + c) * s.h + y) * s.w + w;
            const std::size_t to = ((static_cast<std::size_t>(n) * s.h + y) * s.w + w) * s.c + c;
            ASSERT_EQ(nhwc[to], x[from]) << s.str();
          }
    EXPECT_EQ(to_nchw(nhwc, s), x) << s.str();
  }
}

// --- batch norm ---------------------------------------------------------------

TEST(BatchNormNhwc, TrainBackwardMatchesFiniteDifferences) {
  const Shape4 s{3, 4, 3, 2};
  auto x = random_vector(s.numel(), 21), gamma = random_vector(4, 22, 0.5, 1.5), beta = random_vector(4, 23);
  auto probe = random_vector(s.numel(), 24);
  std::vector<double> y(s.numel()), mean(4), var(4), invstd(4), dx(s.numel()), dgamma(4), dbeta(4);
  auto loss_of = [&](const std::vector<double>& xs, const std::vector<double>& gs, const std::vector<double>& bs) {
    batchnorm_train_forward_nhwc_cpu(y.data(), mean.data(), var.data(), invstd.data(), xs.data(), gs.data(),
                                     bs.data(), s, 1e-3f);
    return dot(y, probe);
  };
  loss_of(x, gamma, beta);
  batchnorm_train_backward_nhwc_cpu(dx.data(), dgamma.data(), dbeta.data(), probe.data(), x.data(), mean.data(),
                                    invstd.data(), gamma.data(), s);
  EXPECT_LT(max_fd_error(x, [&](const auto& v) { return loss_of(v, gamma, beta); }, dx), 1e-6);
  EXPECT_LT(max_fd_error(gamma, [&](const auto& v) { return loss_of(x, v, beta); }, dgamma), 1e-6);
  EXPECT_LT(max_fd_error(beta, [&](const auto& v) { return loss_of(x, gamma, v); }, dbeta), 1e-6);
}

// Float NHWC against the double NCHW kernel, the way the engine runs it: an offset,
// scaled input (the variance pass must not cancel), several chunks of rows, a channel
// count that is no multiple of the vector width, and sync_bn's reducer (two ranks
// holding the same batch: every sum doubles and so does the count).
TEST(BatchNormNhwc, FloatMatchesTheDoubleNchwKernel) {
  const Shape4 s{4, 21, 9, 7};
  const std::size_t c = static_cast<std::size_t>(s.c);
  auto x = random_vector(s.numel(), 31, 2.0, 5.0), gamma = random_vector(c, 32, 0.5, 1.5);
  auto beta = random_vector(c, 33), dy = random_vector(s.numel(), 34);
  auto running_mean = random_vector(c, 35), running_var = random_vector(c, 36, 0.5, 2.0);
  const BatchStatsReducer two_ranks{[](double* values, std::size_t count) {
                                for (std::size_t i = 0; i < count; ++i) values[i] *= 2;
                              },
                              2};
  for (const BatchStatsReducer* reducer : {static_cast<const BatchStatsReducer*>(nullptr), &two_ranks}) {
    std::vector<double> y(s.numel()), mean(c), var(c), invstd(c), dx(s.numel()), dgamma(c), dbeta(c), y_eval(s.numel());
    batchnorm_train_forward_cpu(y.data(), mean.data(), var.data(), invstd.data(), x.data(), gamma.data(), beta.data(), s,
                                1e-3f, reducer);
    batchnorm_train_backward_cpu(dx.data(), dgamma.data(), dbeta.data(), dy.data(), x.data(), mean.data(),
                                 invstd.data(), gamma.data(), s, reducer);
    batchnorm_eval_forward_cpu(y_eval.data(), x.data(), gamma.data(), beta.data(), running_mean.data(),
                               running_var.data(), s, 1e-3f);

    const auto xf = to_nhwc(std::vector<float>(x.begin(), x.end()), s);
    const auto dyf = to_nhwc(std::vector<float>(dy.begin(), dy.end()), s);
    const std::vector<float> gf(gamma.begin(), gamma.end()), bf(beta.begin(), beta.end());
    const std::vector<float> rmf(running_mean.begin(), running_mean.end()), rvf(running_var.begin(), running_var.end());
    std::vector<float> yf(s.numel()), meanf(c), varf(c), invf(c), dxf(s.numel()), dgf(c), dbf(c), yef(s.numel());
    batchnorm_train_forward_nhwc_cpu(yf.data(), meanf.data(), varf.data(), invf.data(), xf.data(), gf.data(), bf.data(),
                                     s, 1e-3f, reducer);
    batchnorm_train_backward_nhwc_cpu(dxf.data(), dgf.data(), dbf.data(), dyf.data(), xf.data(), meanf.data(),
                                      invf.data(), gf.data(), s, reducer);
    batchnorm_eval_forward_nhwc_cpu(yef.data(), xf.data(), gf.data(), bf.data(), rmf.data(), rvf.data(), s, 1e-3f);

    const char* which = reducer != nullptr ? "sync_bn" : "local";
    EXPECT_LT(rel_l2(to_nchw(yf, s).data(), y.data(), y.size()), 1e-6) << which;
    EXPECT_LT(rel_l2(meanf.data(), mean.data(), c), 1e-6) << which;
    EXPECT_LT(rel_l2(varf.data(), var.data(), c), 1e-6) << which;
    EXPECT_LT(rel_l2(to_nchw(dxf, s).data(), dx.data(), dx.size()), 1e-5) << which;
    EXPECT_LT(rel_l2(dgf.data(), dgamma.data(), c), 1e-6) << which;
    EXPECT_LT(rel_l2(dbf.data(), dbeta.data(), c), 1e-6) << which;
    EXPECT_LT(rel_l2(to_nchw(yef, s).data(), y_eval.data(), y_eval.size()), 1e-6) << which;
  }
}

TEST(BatchNormSiluNhwc, TrainBackwardMatchesFiniteDifferences) {
  const Shape4 s{2, 5, 3, 2};
  const std::size_t c = static_cast<std::size_t>(s.c);
  auto x = random_vector(s.numel(), 25), gamma = random_vector(c, 26, 0.5, 1.5), beta = random_vector(c, 27);
  auto probe = random_vector(s.numel(), 28);
  std::vector<double> z(s.numel()), mean(c), var(c), invstd(c), dx(s.numel()), dgamma(c), dbeta(c);
  auto loss_of = [&](const std::vector<double>& xs, const std::vector<double>& gs, const std::vector<double>& bs) {
    batchnorm_silu_train_forward_nhwc_cpu(z.data(), mean.data(), var.data(), invstd.data(), xs.data(), gs.data(),
                                          bs.data(), s, 1e-3f);
    return dot(z, probe);
  };
  loss_of(x, gamma, beta);
  batchnorm_silu_train_backward_nhwc_cpu(dx.data(), dgamma.data(), dbeta.data(), probe.data(), x.data(), mean.data(),
                                         invstd.data(), gamma.data(), beta.data(), s);
  EXPECT_LT(max_fd_error(x, [&](const auto& v) { return loss_of(v, gamma, beta); }, dx), 1e-6);
  EXPECT_LT(max_fd_error(gamma, [&](const auto& v) { return loss_of(x, v, beta); }, dgamma), 1e-6);
  EXPECT_LT(max_fd_error(beta, [&](const auto& v) { return loss_of(x, gamma, v); }, dbeta), 1e-6);
}

// The fused pass against batch norm then SiLU as two float ops (what an unfused graph
// runs), in training (forward and backward) and eval.
TEST(BatchNormSiluNhwc, FusedMatchesBatchNormThenSilu) {
  const Shape4 s{3, 37, 11, 6};
  const std::size_t c = static_cast<std::size_t>(s.c);
  const auto x = random_floats(s.numel(), 81, -2.0, 3.0), dz = random_floats(s.numel(), 82);
  const auto gamma = random_floats(c, 83, 0.5, 1.5), beta = random_floats(c, 84);
  const auto running_mean = random_floats(c, 85), running_var = random_floats(c, 86, 0.5, 2.0);
  std::vector<float> y(s.numel()), z(s.numel()), dy(s.numel()), dx(s.numel()), mean(c), var(c), invstd(c), dg(c), db(c);
  batchnorm_train_forward_nhwc_cpu(y.data(), mean.data(), var.data(), invstd.data(), x.data(), gamma.data(),
                                   beta.data(), s, 1e-3f);
  silu_forward_cpu(z.data(), y.data(), y.size());
  silu_backward_cpu(dy.data(), dz.data(), y.data(), y.size());
  batchnorm_train_backward_nhwc_cpu(dx.data(), dg.data(), db.data(), dy.data(), x.data(), mean.data(), invstd.data(),
                                    gamma.data(), s);

  std::vector<float> zf(s.numel()), dxf(s.numel()), meanf(c), varf(c), invf(c), dgf(c), dbf(c);
  batchnorm_silu_train_forward_nhwc_cpu(zf.data(), meanf.data(), varf.data(), invf.data(), x.data(), gamma.data(),
                                        beta.data(), s, 1e-3f);
  batchnorm_silu_train_backward_nhwc_cpu(dxf.data(), dgf.data(), dbf.data(), dz.data(), x.data(), meanf.data(),
                                         invf.data(), gamma.data(), beta.data(), s);
  EXPECT_EQ(meanf, mean);
  EXPECT_EQ(invf, invstd);
  auto rel = [](const std::vector<float>& a, const std::vector<float>& b) {
    return rel_l2(a.data(), std::vector<double>(b.begin(), b.end()).data(), a.size());
  };
  EXPECT_LT(rel(zf, z), 1e-6);
  EXPECT_LT(rel(dxf, dx), 1e-5);
  EXPECT_LT(rel(dgf, dg), 1e-5);
  EXPECT_LT(rel(dbf, db), 1e-5);

  std::vector<float> ye(s.numel()), ze(s.numel()), zef(s.numel());
  batchnorm_eval_forward_nhwc_cpu(ye.data(), x.data(), gamma.data(), beta.data(), running_mean.data(),
                                  running_var.data(), s, 1e-3f);
  silu_forward_cpu(ze.data(), ye.data(), ye.size());
  batchnorm_silu_eval_forward_nhwc_cpu(zef.data(), x.data(), gamma.data(), beta.data(), running_mean.data(),
                                       running_var.data(), s, 1e-3f);
  EXPECT_LT(rel(zef, ze), 1e-6);
}

// --- data movement: exactly the NCHW kernels' results ---------------------------

TEST(ChannelCopiesNhwc, ConcatAndSplitMoveTheSameElementsAsNchw) {
  const Shape4 a{2, 5, 4, 3}, b{2, 11, 4, 3};
  const Shape4 both{2, 16, 4, 3};
  const auto xa = random_floats(a.numel(), 51), xb = random_floats(b.numel(), 52);
  std::vector<float> nchw(both.numel()), nhwc(both.numel());
  copy_into_channels_cpu(nchw.data(), both.c, 0, xa.data(), a);
  copy_into_channels_cpu(nchw.data(), both.c, a.c, xb.data(), b);
  copy_into_channels_nhwc_cpu(nhwc.data(), both.c, 0, to_nhwc(xa, a).data(), a);
  copy_into_channels_nhwc_cpu(nhwc.data(), both.c, a.c, to_nhwc(xb, b).data(), b);
  EXPECT_EQ(to_nchw(nhwc, both), nchw);
  std::vector<float> back(b.numel());
  copy_from_channels_nhwc_cpu(back.data(), b, nhwc.data(), both.c, a.c);
  EXPECT_EQ(to_nchw(back, b), xb);
}

TEST(MaxPoolNhwc, SameMaximaArgmaxAndGradientsAsNchw) {
  PoolGeometry g;
  g.input = {2, 19, 9, 8};
  const Shape4 out = g.output();
  auto x = random_floats(g.input.numel(), 61);
  for (float& v : x) v = std::round(v * 4) / 4;  // a few values only: many ties
  const auto dy = random_floats(out.numel(), 62);
  std::vector<float> y(out.numel()), y_nhwc(out.numel()), dx(x.size()), dx_nhwc(x.size());
  std::vector<std::int32_t> arg(out.numel()), arg_nhwc(out.numel());
  maxpool_forward_cpu(y.data(), arg.data(), x.data(), g);
  maxpool_forward_nhwc_cpu(y_nhwc.data(), arg_nhwc.data(), to_nhwc(x, g.input).data(), g);
  EXPECT_EQ(to_nchw(y_nhwc, out), y);
  EXPECT_EQ(to_nchw(arg_nhwc, out), arg);
  maxpool_backward_cpu(dx.data(), dy.data(), arg.data(), g);
  maxpool_backward_nhwc_cpu(dx_nhwc.data(), to_nhwc(dy, out).data(), arg_nhwc.data(), g);
  EXPECT_EQ(to_nchw(dx_nhwc, g.input), dx);
}

TEST(UpsampleNhwc, SameValuesAndGradientsAsNchw) {
  const Shape4 in{2, 13, 5, 4};
  const Shape4 out{2, 13, 10, 8};
  const auto x = random_floats(in.numel(), 71), dy = random_floats(out.numel(), 72);
  std::vector<float> y(out.numel()), y_nhwc(out.numel()), dx(in.numel()), dx_nhwc(in.numel());
  upsample_nearest_forward_cpu(y.data(), x.data(), in, 2);
  upsample_nearest_forward_nhwc_cpu(y_nhwc.data(), to_nhwc(x, in).data(), in, 2);
  EXPECT_EQ(to_nchw(y_nhwc, out), y);
  upsample_nearest_backward_cpu(dx.data(), dy.data(), in, 2);
  upsample_nearest_backward_nhwc_cpu(dx_nhwc.data(), to_nhwc(dy, out).data(), in, 2);
  EXPECT_EQ(to_nchw(dx_nhwc, in), dx);
}

}  // namespace
}  // namespace shrike::kernels
