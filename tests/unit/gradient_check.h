// tests/unit/gradient_check.h
//
// Finite-difference gradient checks in double precision. An op is wrapped as
// loss(x) = sum(forward(x) * probe) with a fixed random probe, whose analytic input
// gradient is backward(dout = probe); central differences with step h must agree.
#pragma once

#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace shrike::test {

inline std::vector<double> random_vector(std::size_t n, unsigned seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(n);
  for (auto& x : v) x = lo + (hi - lo) * (static_cast<double>(rng() >> 11) * 0x1.0p-53);
  return v;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Largest |numeric - analytic| / max(1e-6, |numeric| + |analytic|) over the entries of x.
inline double max_fd_error(std::vector<double> x, const std::function<double(const std::vector<double>&)>& loss,
                           const std::vector<double>& analytic, double h = 1e-6) {
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss(x);
    x[i] = saved - h;
    const double down = loss(x);
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    const double scale = std::max(1e-6, std::fabs(numeric) + std::fabs(analytic[i]));
    worst = std::max(worst, std::fabs(numeric - analytic[i]) / scale);
  }
  return worst;
}

inline double rel_l2(const float* a, const double* b, std::size_t n) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < n; ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

}  // namespace shrike::test
