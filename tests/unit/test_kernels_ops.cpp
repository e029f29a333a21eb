// tests/unit/test_kernels_ops.cpp: every engine op (kernels/) checked two ways:
// finite differences in double precision on small shapes (the same templated code in
// double, or the plain double reference where the fast path is oneDNN), and the float
// path against the double one on fresh random inputs.
#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/batchnorm.h"
#include "kernels/conv.h"
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

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// --- convolution -------------------------------------------------------------


class ConvOp : public ::testing::TestWithParam<ConvGeometry> {};

TEST_P(ConvOp, ReferenceBackwardMatchesFiniteDifferences) {
  const ConvGeometry g = GetParam();
  auto x = random_vector(g.input.numel(), 1), w = random_vector(g.weight_numel(), 2);
  auto b = random_vector(static_cast<std::size_t>(g.out_channels), 3);
  auto probe = random_vector(g.output().numel(), 4);
  std::vector<double> y(g.output().numel()), dx(x.size()), dw(w.size()), db(b.size());
  conv2d_reference_backward(dx.data(), dw.data(), db.data(), probe.data(), x.data(), w.data(), g);
  auto loss_x = [&](const std::vector<double>& xs) {
    conv2d_reference_forward(y.data(), xs.data(), w.data(), b.data(), g);
    return dot(y, probe);
  };
  auto loss_w = [&](const std::vector<double>& ws) {
    conv2d_reference_forward(y.data(), x.data(), ws.data(), b.data(), g);
    return dot(y, probe);
  };
  EXPECT_LT(max_fd_error(x, loss_x, dx), 1e-6);
  EXPECT_LT(max_fd_error(w, loss_w, dw), 1e-6);
  if (g.bias) {
    auto loss_b = [&](const std::vector<double>& bs) {
      conv2d_reference_forward(y.data(), x.data(), w.data(), bs.data(), g);
      return dot(y, probe);
    };
    EXPECT_LT(max_fd_error(b, loss_b, db), 1e-6);
  }
}

ConvGeometry geometry(Shape4 in, int out, int k, int s, int p, int groups, bool bias) {
  ConvGeometry g;
  g.input = in;
  g.out_channels = out;
  g.kernel = k;
  g.stride = s;
  g.padding = p;
  g.groups = groups;
  g.bias = bias;
  return g;
}

INSTANTIATE_TEST_SUITE_P(Geometries, ConvOp,
                         ::testing::Values(geometry({2, 3, 7, 6}, 4, 3, 2, 1, 1, false),   // stem-like, stride 2
                                           geometry({2, 4, 5, 5}, 6, 1, 1, 0, 1, true),    // 1x1 with bias (head)
                                           geometry({1, 6, 6, 5}, 6, 3, 1, 1, 6, false),   // depthwise (pe, DWConv)
                                           geometry({2, 4, 6, 6}, 4, 3, 1, 1, 2, false))); // grouped

// The oneDNN convolution in both activation layouts (NHWC: the CPU engine's, where
// inputs and outputs are transposed around the plan; weights stay OIHW) against the
// double reference, on the geometries above and on wider ones.
class ConvOneDnn : public ::testing::TestWithParam<std::tuple<ConvGeometry, Layout>> {};

std::vector<float> in_layout(const std::vector<double>& nchw, Shape4 s, Layout layout) {
  std::vector<float> plain(nchw.begin(), nchw.end());
  if (layout == Layout::kNCHW) return plain;
  std::vector<float> out(plain.size());
  nchw_to_nhwc_cpu(out.data(), plain.data(), s);
  return out;
}

std::vector<float> as_nchw(const std::vector<float>& v, Shape4 s, Layout layout) {
  if (layout == Layout::kNCHW) return v;
  std::vector<float> out(v.size());
  nhwc_to_nchw_cpu(out.data(), v.data(), s);
  return out;
}

TEST_P(ConvOneDnn, MatchesTheDoubleReference) {
  const auto [g, layout] = GetParam();
  auto x = random_vector(g.input.numel(), 11), w = random_vector(g.weight_numel(), 12);
  auto b = random_vector(static_cast<std::size_t>(g.out_channels), 13);
  auto dy = random_vector(g.output().numel(), 14);
  std::vector<double> y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
  conv2d_reference_forward(y.data(), x.data(), w.data(), b.data(), g);
  conv2d_reference_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), g);
  const auto xf = in_layout(x, g.input, layout), dyf = in_layout(dy, g.output(), layout);
  auto wf = to_float(w), bf = to_float(b);
  std::vector<float> yf(y.size()), dxf(x.size()), dwf(w.size()), dbf(b.size());
  ConvCpu conv(g, layout);
  EXPECT_EQ(conv.layout(), layout);
  for (int repeat = 0; repeat < 2; ++repeat) {  // a plan is reused: the second call must match too
    conv.forward(yf.data(), xf.data(), wf.data(), bf.data());
    conv.backward_data(dxf.data(), dyf.data(), wf.data());
    conv.backward_weights(dwf.data(), dbf.data(), dyf.data(), xf.data());
    EXPECT_LT(rel_l2(as_nchw(yf, g.output(), layout).data(), y.data(), y.size()), 1e-5) << g.str();
    EXPECT_LT(rel_l2(as_nchw(dxf, g.input, layout).data(), dx.data(), dx.size()), 1e-5) << g.str();
    EXPECT_LT(rel_l2(dwf.data(), dw.data(), dw.size()), 1e-5) << g.str();
    if (g.bias) {
      EXPECT_LT(rel_l2(dbf.data(), db.data(), db.size()), 1e-5) << g.str();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    GeometriesAndLayouts, ConvOneDnn,
    ::testing::Combine(::testing::Values(geometry({2, 3, 7, 6}, 4, 3, 2, 1, 1, false),    // stem-like, stride 2
                                         geometry({2, 4, 5, 5}, 6, 1, 1, 0, 1, true),     // 1x1 with bias (head)
                                         geometry({1, 6, 6, 5}, 6, 3, 1, 1, 6, false),    // depthwise (pe, DWConv)
                                         geometry({2, 4, 6, 6}, 4, 3, 1, 1, 2, false),    // grouped
                                         geometry({2, 3, 16, 14}, 16, 3, 2, 1, 1, false), // the stem, stride 2
                                         geometry({2, 24, 6, 6}, 40, 1, 1, 0, 1, true),   // wider 1x1 with bias
                                         geometry({2, 16, 7, 5}, 20, 3, 1, 1, 1, false),  // 3x3
                                         geometry({1, 32, 6, 5}, 32, 3, 1, 1, 32, false), // wider depthwise
                                         geometry({2, 8, 6, 6}, 8, 3, 1, 1, 2, false)),   // wider grouped
                       ::testing::Values(Layout::kNCHW, Layout::kNHWC)));

// --- batch norm ----------------------------------------------------------------

TEST(BatchNormOp, TrainBackwardMatchesFiniteDifferences) {
  const Shape4 s{3, 4, 3, 2};
  auto x = random_vector(s.numel(), 21), gamma = random_vector(4, 22, 0.5, 1.5), beta = random_vector(4, 23);
  auto probe = random_vector(s.numel(), 24);
  std::vector<double> y(s.numel()), mean(4), var(4), invstd(4), dx(s.numel()), dgamma(4), dbeta(4);
  auto loss_of = [&](const std::vector<double>& xs, const std::vector<double>& gs, const std::vector<double>& bs) {
    batchnorm_train_forward_cpu(y.data(), mean.data(), var.data(), invstd.data(), xs.data(), gs.data(), bs.data(), s,
                                1e-3f);
    return dot(y, probe);
  };
  loss_of(x, gamma, beta);
  batchnorm_train_backward_cpu(dx.data(), dgamma.data(), dbeta.data(), probe.data(), x.data(), mean.data(),
                               invstd.data(), gamma.data(), s);
  EXPECT_LT(max_fd_error(x, [&](const auto& v) { return loss_of(v, gamma, beta); }, dx), 1e-6);
  EXPECT_LT(max_fd_error(gamma, [&](const auto& v) { return loss_of(x, v, beta); }, dgamma), 1e-6);
  EXPECT_LT(max_fd_error(beta, [&](const auto& v) { return loss_of(x, gamma, v); }, dbeta), 1e-6);
}

TEST(BatchNormOp, RunningStatisticsFollowPyTorch) {
  // One channel, values 1..4: batch mean 2.5, biased var 1.25, unbiased 5/3.
  const Shape4 s{1, 1, 2, 2};
  std::vector<float> x{1, 2, 3, 4}, y(4), mean(1), var(1), invstd(1), gamma{1}, beta{0};
  batchnorm_train_forward_cpu(y.data(), mean.data(), var.data(), invstd.data(), x.data(), gamma.data(), beta.data(),
                              s, 1e-3f);
  std::vector<float> running_mean{0.5f}, running_var{2.0f};
  batchnorm_update_running_cpu(running_mean.data(), running_var.data(), mean.data(), var.data(), s, 0.03f);
  EXPECT_NEAR(running_mean[0], 0.97f * 0.5f + 0.03f * 2.5f, 1e-7);
  EXPECT_NEAR(running_var[0], 0.97f * 2.0f + 0.03f * (5.0f / 3.0f), 1e-6);
  EXPECT_NEAR(y[0], (1 - 2.5) / std::sqrt(1.25 + 1e-3), 1e-6);
  std::vector<float> y_eval(4);
  batchnorm_eval_forward_cpu(y_eval.data(), x.data(), gamma.data(), beta.data(), running_mean.data(),
                             running_var.data(), s, 1e-3f);
  EXPECT_NEAR(y_eval[3], (4 - running_mean[0]) / std::sqrt(running_var[0] + 1e-3), 1e-6);
}

// --- SiLU, pooling, upsampling -------------------------------------------------

TEST(SiluOp, BackwardMatchesFiniteDifferences) {
  auto x = random_vector(50, 31, -6, 6), probe = random_vector(50, 32);
  std::vector<double> y(50), dx(50);
  silu_backward_cpu(dx.data(), probe.data(), x.data(), x.size());
  auto loss = [&](const std::vector<double>& xs) {
    silu_forward_cpu(y.data(), xs.data(), xs.size());
    return dot(y, probe);
  };
  EXPECT_LT(max_fd_error(x, loss, dx), 1e-6);
}

TEST(MaxPoolOp, BackwardMatchesFiniteDifferencesAndPicksTheFirstMaximum) {
  PoolGeometry g;
  g.input = {2, 2, 6, 5};
  auto x = random_vector(g.input.numel(), 41);  // distinct values: no ties, so FD is valid
  auto probe = random_vector(g.output().numel(), 42);
  std::vector<double> y(probe.size()), dx(x.size());
  std::vector<std::int32_t> argmax(probe.size());
  auto loss = [&](const std::vector<double>& xs) {
    maxpool_forward_cpu(y.data(), argmax.data(), xs.data(), g);
    return dot(y, probe);
  };
  loss(x);
  maxpool_backward_cpu(dx.data(), probe.data(), argmax.data(), g);
  EXPECT_LT(max_fd_error(x, loss, dx), 1e-6);
  PoolGeometry flat;
  flat.input = {1, 1, 1, 3};
  std::vector<float> same{7, 7, 7}, out(3);
  std::vector<std::int32_t> where(3);
  maxpool_forward_cpu(out.data(), where.data(), same.data(), flat);
  EXPECT_EQ(where[2], 0);  // ties: the first in scan order, as PyTorch
}

TEST(UpsampleOp, BackwardMatchesFiniteDifferences) {
  const Shape4 in{2, 3, 3, 4};
  auto x = random_vector(in.numel(), 51), probe = random_vector(in.numel() * 4, 52);
  std::vector<double> y(probe.size()), dx(x.size());
  upsample_nearest_backward_cpu(dx.data(), probe.data(), in, 2);
  auto loss = [&](const std::vector<double>& xs) {
    upsample_nearest_forward_cpu(y.data(), xs.data(), in, 2);
    return dot(y, probe);
  };
  EXPECT_LT(max_fd_error(x, loss, dx), 1e-6);
  EXPECT_EQ(y[0], x[0]);
  EXPECT_EQ(y[1], x[0]);
  EXPECT_EQ(y[8], x[0]);  // row 1 of the output, width 8
}

// --- attention -----------------------------------------------------------------

TEST(AttentionOp, BackwardMatchesFiniteDifferences) {
  AttentionGeometry g;
  g.batch = 2;
  g.heads = 2;
  g.key_dim = 2;
  g.head_dim = 3;
  g.h = 2;
  g.w = 3;
  g.scale = 1.0f / std::sqrt(2.0f);
  const std::size_t out_n = static_cast<std::size_t>(g.batch) * g.out_channels() * g.tokens();
  auto qkv = random_vector(static_cast<std::size_t>(g.batch) * g.qkv_channels() * g.tokens(), 61);
  auto probe_out = random_vector(out_n, 62), probe_v = random_vector(out_n, 63);
  std::vector<double> out(out_n), v_image(out_n), probs(g.probs_numel()), dqkv(qkv.size());
  auto loss = [&](const std::vector<double>& xs) {
    attention_forward_cpu(out.data(), v_image.data(), probs.data(), xs.data(), g);
    return dot(out, probe_out) + dot(v_image, probe_v);
  };
  loss(qkv);
  attention_backward_cpu(dqkv.data(), probe_out.data(), probe_v.data(), qkv.data(), probs.data(), g);
  EXPECT_LT(max_fd_error(qkv, loss, dqkv), 1e-6);
}

TEST(AttentionOp, FloatMatchesDouble) {
  AttentionGeometry g;
  g.batch = 1;
  g.heads = 2;
  g.key_dim = 8;
  g.head_dim = 16;
  g.h = 5;
  g.w = 4;
  g.scale = 1.0f / std::sqrt(8.0f);
  const std::size_t out_n = static_cast<std::size_t>(g.out_channels()) * g.tokens();
  auto qkv = random_vector(static_cast<std::size_t>(g.qkv_channels()) * g.tokens(), 71);
  std::vector<double> out(out_n), v_image(out_n), probs(g.probs_numel());
  attention_forward_cpu(out.data(), v_image.data(), probs.data(), qkv.data(), g);
  auto qkvf = to_float(qkv);
  std::vector<float> outf(out_n), vf(out_n), probsf(g.probs_numel());
  attention_forward_cpu(outf.data(), vf.data(), probsf.data(), qkvf.data(), g);
  EXPECT_LT(rel_l2(outf.data(), out.data(), out_n), 1e-6);
  EXPECT_LT(rel_l2(vf.data(), v_image.data(), out_n), 1e-7);
}

// --- channel copies ----------------------------------------------------------------

TEST(ChannelCopies, ConcatThenSplitRoundTrips) {
  const Shape4 a{2, 3, 2, 2}, b{2, 1, 2, 2};
  auto xa = to_float(random_vector(a.numel(), 81)), xb = to_float(random_vector(b.numel(), 82));
  std::vector<float> cat(a.numel() + b.numel()), back_a(a.numel()), back_b(b.numel());
  copy_into_channels_cpu(cat.data(), 4, 0, xa.data(), a);
  copy_into_channels_cpu(cat.data(), 4, 3, xb.data(), b);
  EXPECT_EQ(cat[3 * 4], xb[0]);  // batch 0, channel 3
  copy_from_channels_cpu(back_a.data(), a, cat.data(), 4, 0);
  copy_from_channels_cpu(back_b.data(), b, cat.data(), 4, 3);
  EXPECT_EQ(back_a, xa);
  EXPECT_EQ(back_b, xb);
  accumulate_from_channels_cpu(back_b.data(), b, cat.data(), 4, 3);
  EXPECT_EQ(back_b[5], 2 * xb[5]);
}

}  // namespace
}  // namespace shrike::kernels
