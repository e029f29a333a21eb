// pipeline/core/random.h
//
// Deterministic random numbers that are the same on every platform and thread:
// SplitMix64 (Vigna) and bounded draws without modulo bias (Lemire). std:: engines are
// portable but std:: distributions are implementation-defined, so shrike never uses
// them where a seed must reproduce data (sampling, augmentation, synthetic images).
#pragma once

#include <cstdint>

namespace shrike {

// One SplitMix64 step: advances `state`, returns a well-mixed 64-bit value.
inline std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform integer in [0, bound) from a 64-bit draw function, bound > 0 (Lemire,
// "Fast Random Integer Generation in an Interval", 2019).
template <typename Next>
std::uint64_t bounded_draw(Next&& next, std::uint64_t bound) {
  __extension__ using Uint128 = unsigned __int128;
  Uint128 product = static_cast<Uint128>(next()) * bound;
  auto low = static_cast<std::uint64_t>(product);
  if (low < bound) {
    const std::uint64_t threshold = (0 - bound) % bound;
    while (low < threshold) {
      product = static_cast<Uint128>(next()) * bound;
      low = static_cast<std::uint64_t>(product);
    }
  }
  return static_cast<std::uint64_t>(product >> 64);
}

// A SplitMix64 generator.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return splitmix64(state_); }
  // Uniform in [0, bound), bound > 0.
  std::uint64_t below(std::uint64_t bound) { return bounded_draw([this] { return next(); }, bound); }
  // Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

}  // namespace shrike
