// kernels/optimizer_update.cpp
//
// CPU reference of the optimizer kernels (see optimizer_update.h): OpenMP over
// spans (tiles), plain float loops inside, hyperparameters rounded to float once per
// group as torch rounds Python scalars for float32 tensors.
#include "kernels/optimizer_update.h"

#include <algorithm>
#include <cmath>

namespace shrike::kernels {

std::vector<UpdateSpan> tile_spans(std::span<const UpdateSpan> spans, std::size_t tile) {
  std::vector<UpdateSpan> out;
  tile = std::max<std::size_t>(tile, 1);
  for (const UpdateSpan& s : spans) {
    for (std::size_t start = 0; start < s.count; start += tile) {
      out.push_back({s.offset + start, std::min(tile, s.count - start), s.group});
    }
  }
  return out;
}

namespace {

struct SgdScalars {
  float lr, momentum, weight_decay;
};

// One span of SGD; `first_step` initialises the buffer with the (decayed) gradient.
void sgd_span(float* p, const float* grad, float* buf, std::size_t n, SgdScalars s, bool nesterov,
              bool first_step) {
  for (std::size_t i = 0; i < n; ++i) {
    float g = grad[i];
    if (s.weight_decay != 0.0f) g = g + s.weight_decay * p[i];
    const float b = first_step ? g : buf[i] * s.momentum + g;
    buf[i] = b;
    const float direction = nesterov ? g + s.momentum * b : b;
    p[i] = p[i] + (-s.lr) * direction;
  }
}

struct AdamScalars {
  float decay_factor;   // AdamW: 1 - lr * wd (1 when no decay)
  float l2;             // Adam: wd added to the gradient
  float one_minus_beta1, beta2, one_minus_beta2;
  float bias_correction2_sqrt, eps;
  float neg_step_size;  // -lr / (1 - beta1^step)
};

void adam_span(float* p, const float* grad, float* m, float* v, std::size_t n, const AdamScalars& s) {
  // No branches inside (l2 = 0 or decay_factor = 1 change nothing for finite values),
  // so the loop vectorises; sqrt needs -fno-math-errno for that (kernels/CMakeLists.txt).
  for (std::size_t i = 0; i < n; ++i) {
    float pi = p[i];
    const float g = grad[i] + s.l2 * pi;
    pi = pi * s.decay_factor;
    const float mi = m[i] + s.one_minus_beta1 * (g - m[i]);
    const float vi = v[i] * s.beta2 + s.one_minus_beta2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / s.bias_correction2_sqrt + s.eps;
    p[i] = pi + s.neg_step_size * (mi / denom);
  }
}

AdamScalars adam_scalars(const AdamGroup& group, const AdamSettings& settings) {
  const double step = static_cast<double>(settings.step);
  const double bias_correction1 = 1.0 - std::pow(settings.beta1, step);
  const double bias_correction2 = 1.0 - std::pow(settings.beta2, step);
  AdamScalars s{};
  s.decay_factor = settings.decoupled_weight_decay ? static_cast<float>(1.0 - group.lr * group.weight_decay) : 1.0f;
  s.l2 = settings.decoupled_weight_decay ? 0.0f : static_cast<float>(group.weight_decay);
  s.one_minus_beta1 = static_cast<float>(1.0 - settings.beta1);
  s.beta2 = static_cast<float>(settings.beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - settings.beta2);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  s.eps = static_cast<float>(settings.eps);
  s.neg_step_size = static_cast<float>(-(group.lr / bias_correction1));
  return s;
}

}  // namespace

void sgd_update_cpu(float* param, const float* grad, float* momentum_buffer, std::span<const UpdateSpan> spans,
                    std::span<const SgdGroup> groups, bool nesterov, bool first_step) {
  std::vector<SgdScalars> scalars;
  for (const SgdGroup& g : groups) {
    scalars.push_back({static_cast<float>(g.lr), static_cast<float>(g.momentum), static_cast<float>(g.weight_decay)});
  }
  const auto count = static_cast<std::int64_t>(spans.size());
#pragma omp parallel for schedule(static)
  for (std::int64_t k = 0; k < count; ++k) {
    const UpdateSpan& s = spans[static_cast<std::size_t>(k)];
    sgd_span(param + s.offset, grad + s.offset, momentum_buffer + s.offset, s.count, scalars.at(s.group), nesterov,
             first_step);
  }
}

void adam_update_cpu(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
                     std::span<const UpdateSpan> spans, std::span<const AdamGroup> groups,
                     const AdamSettings& settings) {
  std::vector<AdamScalars> scalars;
  for (const AdamGroup& g : groups) scalars.push_back(adam_scalars(g, settings));
  const auto count = static_cast<std::int64_t>(spans.size());
#pragma omp parallel for schedule(static)
  for (std::int64_t k = 0; k < count; ++k) {
    const UpdateSpan& s = spans[static_cast<std::size_t>(k)];
    adam_span(param + s.offset, grad + s.offset, exp_avg + s.offset, exp_avg_sq + s.offset, s.count,
              scalars.at(s.group));
  }
}

double sum_squares_cpu(const float* x, std::size_t n) {
  constexpr std::size_t kBlock = 1 << 16;
  const std::size_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(blocks, 0.0);
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < static_cast<std::int64_t>(blocks); ++b) {
    const std::size_t begin = static_cast<std::size_t>(b) * kBlock;
    const std::size_t end = std::min(n, begin + kBlock);
    double acc[4] = {0, 0, 0, 0};  // four chains for instruction-level parallelism, fixed order
    std::size_t i = begin;
    for (; i + 4 <= end; i += 4) {
      for (int j = 0; j < 4; ++j) acc[j] += static_cast<double>(x[i + j]) * x[i + j];
    }
    for (; i < end; ++i) acc[0] += static_cast<double>(x[i]) * x[i];
    partial[static_cast<std::size_t>(b)] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  }
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

double clip_factor(double norm, double max_norm) {
  const double factor = max_norm / (norm + 1e-6);
  return factor < 1.0 ? factor : 1.0;
}

void scale_in_place_cpu(float* x, float factor, std::size_t n) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(n); ++i) x[i] *= factor;
}

void ema_update_cpu(float* ema, const float* model, std::size_t n, double decay) {
  const float d = static_cast<float>(decay);
  const float one_minus_d = static_cast<float>(1.0 - decay);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(n); ++i) {
    const float kept = ema[i] * d;
    const float added = one_minus_d * model[i];
    ema[i] = kept + added;
  }
}

}  // namespace shrike::kernels
