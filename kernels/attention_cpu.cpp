// kernels/attention_cpu.cpp: the attention core on the CPU, OpenMP over
// (batch, head) pairs; plain loops (N = H*W is at most a few hundred tokens at P5).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/attention.h"

namespace shrike::kernels {

namespace {

// Pointers to the q, k, v channel blocks of one (batch, head) pair: each row is a
// channel of N tokens.
template <typename T>
struct HeadView {
  T* q;
  T* k;
  T* v;
};

template <typename T>
HeadView<T> head_view(T* qkv, const AttentionGeometry& g, int b, int head) {
  const std::size_t n = static_cast<std::size_t>(g.tokens());
  T* base = qkv + (static_cast<std::size_t>(b) * g.qkv_channels() + static_cast<std::size_t>(head) *
                   (2 * g.key_dim + g.head_dim)) * n;
  return {base, base + static_cast<std::size_t>(g.key_dim) * n, base + 2 * static_cast<std::size_t>(g.key_dim) * n};
}

// probs (N, N) = softmax_rows(scale * q^T k) for one head.
template <typename T, typename Acc>
void attention_probs(Acc* probs, const T* q, const T* k, const AttentionGeometry& g) {
  const int n = g.tokens(), kd = g.key_dim;
  // Per-thread scratch that keeps its capacity: no allocation after the first step.
  thread_local std::vector<Acc> qt, kt;
  qt.resize(static_cast<std::size_t>(n) * kd);
  kt.resize(static_cast<std::size_t>(n) * kd);
  for (int c = 0; c < kd; ++c)
    for (int t = 0; t < n; ++t) {
      qt[static_cast<std::size_t>(t) * kd + c] = q[static_cast<std::size_t>(c) * n + t];
      kt[static_cast<std::size_t>(t) * kd + c] = k[static_cast<std::size_t>(c) * n + t];
    }
  for (int i = 0; i < n; ++i) {
    Acc* row = probs + static_cast<std::size_t>(i) * n;
    Acc largest = -INFINITY;
    for (int j = 0; j < n; ++j) {
      Acc dot = 0;
      for (int c = 0; c < kd; ++c) dot += qt[static_cast<std::size_t>(i) * kd + c] * kt[static_cast<std::size_t>(j) * kd + c];
      row[j] = dot * static_cast<Acc>(g.scale);
      largest = std::max(largest, row[j]);
    }
    Acc sum = 0;
    for (int j = 0; j < n; ++j) {
      row[j] = std::exp(row[j] - largest);
      sum += row[j];
    }
    for (int j = 0; j < n; ++j) row[j] /= sum;
  }
}

// out (hd, N) = v (hd, N) probs^T; v_image (hd, N) = v.
template <typename T, typename Acc>
void attention_output(T* out, T* v_image, const T* v, const Acc* probs, const AttentionGeometry& g) {
  const int n = g.tokens();
  for (int d = 0; d < g.head_dim; ++d) {
    const T* vrow = v + static_cast<std::size_t>(d) * n;
    for (int i = 0; i < n; ++i) {
      const Acc* prow = probs + static_cast<std::size_t>(i) * n;
      Acc sum = 0;
      for (int j = 0; j < n; ++j) sum += vrow[j] * prow[j];
      out[static_cast<std::size_t>(d) * n + i] = static_cast<T>(sum);
    }
    std::copy(vrow, vrow + n, v_image + static_cast<std::size_t>(d) * n);
  }
}

template <typename T, typename Acc>
void attention_forward(T* out, T* v_image, Acc* probs, const T* qkv, const AttentionGeometry& g) {
  const std::size_t n = static_cast<std::size_t>(g.tokens());
  const int pairs = g.batch * g.heads;
#pragma omp parallel for schedule(dynamic)
  for (int pair = 0; pair < pairs; ++pair) {
    const int b = pair / g.heads, head = pair % g.heads;
    HeadView<const T> view = head_view(qkv, g, b, head);
    Acc* p = probs + static_cast<std::size_t>(pair) * n * n;
    attention_probs(p, view.q, view.k, g);
    const std::size_t out_offset = (static_cast<std::size_t>(b) * g.out_channels() +
                                    static_cast<std::size_t>(head) * g.head_dim) * n;
    attention_output(out + out_offset, v_image + out_offset, view.v, p, g);
  }
}

}  // namespace

template <typename T>
void attention_forward_cpu(T* out, T* v_image, T* probs, const T* qkv, const AttentionGeometry& g) {
  attention_forward<T, T>(out, v_image, probs, qkv, g);
}

template <typename T>
void attention_backward_cpu(T* dqkv, const T* dout, const T* dv_image, const T* qkv, const T* probs,
                            const AttentionGeometry& g) {
  const int n = g.tokens(), kd = g.key_dim, hd = g.head_dim;
  const int pairs = g.batch * g.heads;
#pragma omp parallel for schedule(dynamic)
  for (int pair = 0; pair < pairs; ++pair) {
    const int b = pair / g.heads, head = pair % g.heads;
    HeadView<const T> x = head_view(qkv, g, b, head);
    HeadView<T> dx = head_view(dqkv, g, b, head);
    const T* p = probs + static_cast<std::size_t>(pair) * n * n;
    const std::size_t out_offset = (static_cast<std::size_t>(b) * g.out_channels() +
                                    static_cast<std::size_t>(head) * hd) * n;
    const T* dO = dout + out_offset;
    const T* dVimg = dv_image + out_offset;
    thread_local std::vector<double> acc, ds, dk;  // scratch that keeps its capacity
    acc.resize(static_cast<std::size_t>(n));
    ds.resize(static_cast<std::size_t>(n) * n);
    dk.resize(static_cast<std::size_t>(n));
    // dV[d, j] = dVimg[d, j] + sum_i dO[d, i] P[i, j]
    for (int d = 0; d < hd; ++d) {
      std::copy(dVimg + static_cast<std::size_t>(d) * n, dVimg + static_cast<std::size_t>(d + 1) * n, acc.begin());
      for (int i = 0; i < n; ++i) {
        const double g_out = dO[static_cast<std::size_t>(d) * n + i];
        const T* prow = p + static_cast<std::size_t>(i) * n;
        for (int j = 0; j < n; ++j) acc[j] += g_out * prow[j];
      }
      for (int j = 0; j < n; ++j) dx.v[static_cast<std::size_t>(d) * n + j] = static_cast<T>(acc[j]);
    }
    // dS[i, j] = P[i, j] (dP[i, j] - sum_j' P[i, j'] dP[i, j']), dP[i, j] = sum_d dO[d, i] V[d, j]
    for (int i = 0; i < n; ++i) {
      double row_dot = 0;
      double* dsrow = ds.data() + static_cast<std::size_t>(i) * n;
      for (int j = 0; j < n; ++j) {
        double dp = 0;
        for (int d = 0; d < hd; ++d) dp += static_cast<double>(dO[static_cast<std::size_t>(d) * n + i]) * x.v[static_cast<std::size_t>(d) * n + j];
        dsrow[j] = dp;
        row_dot += dp * p[static_cast<std::size_t>(i) * n + j];
      }
      for (int j = 0; j < n; ++j) dsrow[j] = p[static_cast<std::size_t>(i) * n + j] * (dsrow[j] - row_dot);
    }
    // dQ[c, i] = scale sum_j dS[i, j] K[c, j];  dK[c, j] = scale sum_i dS[i, j] Q[c, i]
    for (int c = 0; c < kd; ++c) {
      const T* krow = x.k + static_cast<std::size_t>(c) * n;
      const T* qrow = x.q + static_cast<std::size_t>(c) * n;
      std::fill(dk.begin(), dk.end(), 0.0);
      for (int i = 0; i < n; ++i) {
        const double* dsrow = ds.data() + static_cast<std::size_t>(i) * n;
        double dq = 0;
        for (int j = 0; j < n; ++j) {
          dq += dsrow[j] * krow[j];
          dk[j] += dsrow[j] * qrow[i];
        }
        dx.q[static_cast<std::size_t>(c) * n + i] = static_cast<T>(dq * g.scale);
      }
      for (int j = 0; j < n; ++j) dx.k[static_cast<std::size_t>(c) * n + j] = static_cast<T>(dk[j] * g.scale);
    }
  }
}

template void attention_forward_cpu<float>(float*, float*, float*, const float*, const AttentionGeometry&);
template void attention_forward_cpu<double>(double*, double*, double*, const double*, const AttentionGeometry&);
template void attention_backward_cpu<float>(float*, const float*, const float*, const float*, const float*,
                                            const AttentionGeometry&);
template void attention_backward_cpu<double>(double*, const double*, const double*, const double*, const double*,
                                             const AttentionGeometry&);

}  // namespace shrike::kernels
