// pipeline/data/rank_sampler.cpp: SplitMix64, the epoch permutation, rank slices.
#include "pipeline/data/rank_sampler.h"

#include <numeric>

#include "pipeline/core/error.h"

namespace shrike::data {

std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  SplitMix64 mixer(a ^ 0x5DEECE66Dull);
  std::uint64_t x = mixer.next() ^ b;
  SplitMix64 second(x);
  std::uint64_t y = second.next() ^ c;
  return SplitMix64(y).next();
}

std::vector<std::uint64_t> epoch_permutation(std::uint64_t size, std::uint64_t seed, std::uint64_t epoch) {
  std::vector<std::uint64_t> order(size);
  std::iota(order.begin(), order.end(), 0);
  SplitMix64 rng(mix_seed(seed, epoch, 0x5A4D'504C'4552ull));
  for (std::uint64_t i = size; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
  return order;
}

std::vector<std::uint64_t> rank_slice(std::uint64_t size, std::uint64_t seed, std::uint64_t epoch, int rank,
                                      int world, bool pad) {
  if (world < 1 || rank < 0 || rank >= world) {
    fail_internal("rank_slice: rank {} of world {} is invalid", rank, world);
  }
  std::vector<std::uint64_t> order = epoch_permutation(size, seed, epoch);
  const std::uint64_t n = static_cast<std::uint64_t>(world);
  // Padded: the permutation is extended by its own start to a multiple of N positions.
  const std::uint64_t positions = (pad && size > 0) ? (size + n - 1) / n * n : size;
  std::vector<std::uint64_t> slice;
  slice.reserve(positions / n + 1);
  for (std::uint64_t position = static_cast<std::uint64_t>(rank); position < positions; position += n) {
    slice.push_back(order[position % size]);
  }
  return slice;
}

}  // namespace shrike::data
