// tests/unit/test_rank_sampler.cpp: per-epoch permutations and rank slices: disjoint,
// complete, balanced, different per epoch, the same for the same seed, and the same
// global batches whatever the world size.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "pipeline/data/rank_sampler.h"

namespace shrike::data {
namespace {

TEST(RankSampler, PermutationIsAPermutationAndDependsOnSeedAndEpoch) {
  auto a = epoch_permutation(1000, 0, 0);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint64_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(a, epoch_permutation(1000, 0, 0));
  EXPECT_NE(a, epoch_permutation(1000, 0, 1));
  EXPECT_NE(a, epoch_permutation(1000, 1, 0));
}

TEST(RankSampler, SlicesAreDisjointCompleteAndBalanced) {
  for (std::uint64_t size : {0ull, 1ull, 7ull, 128ull, 1001ull}) {
    for (int world : {1, 2, 3, 8}) {
      std::multiset<std::uint64_t> all;
      std::size_t smallest = SIZE_MAX, largest = 0;
      for (int rank = 0; rank < world; ++rank) {
        auto slice = rank_slice(size, 42, 3, rank, world, false);
        all.insert(slice.begin(), slice.end());
        smallest = std::min(smallest, slice.size());
        largest = std::max(largest, slice.size());
      }
      EXPECT_EQ(all.size(), size) << size << " " << world;
      for (std::uint64_t i = 0; i < size; ++i) EXPECT_EQ(all.count(i), 1u) << i;
      EXPECT_LE(largest - smallest, 1u);
    }
  }
}

TEST(RankSampler, PaddedSlicesHaveEqualLengthAndCoverEverything) {
  std::set<std::uint64_t> covered;
  for (int rank = 0; rank < 4; ++rank) {
    auto slice = rank_slice(10, 1, 0, rank, 4, true);
    EXPECT_EQ(slice.size(), 3u);
    covered.insert(slice.begin(), slice.end());
  }
  EXPECT_EQ(covered.size(), 10u);
}

TEST(RankSampler, GlobalBatchesDoNotDependOnWorldSize) {
  // With global batch 8, batch b is permutation positions 8b..8b+7 whether 1, 2 or 4
  // ranks read it: rank r holds positions r, r+N, ...
  const std::uint64_t size = 64, batch = 8;
  auto order = epoch_permutation(size, 5, 2);
  for (int world : {1, 2, 4, 8}) {
    std::vector<std::vector<std::uint64_t>> slices;
    for (int rank = 0; rank < world; ++rank) slices.push_back(rank_slice(size, 5, 2, rank, world, false));
    const std::uint64_t per_rank = batch / static_cast<std::uint64_t>(world);
    for (std::uint64_t b = 0; b < size / batch; ++b) {
      std::set<std::uint64_t> from_ranks, expected;
      for (int rank = 0; rank < world; ++rank) {
        for (std::uint64_t k = 0; k < per_rank; ++k) from_ranks.insert(slices[rank][b * per_rank + k]);
      }
      for (std::uint64_t k = 0; k < batch; ++k) expected.insert(order[b * batch + k]);
      EXPECT_EQ(from_ranks, expected) << "world " << world << " batch " << b;
    }
  }
}

TEST(RankSampler, BoundedDrawsAreUniform) {
  SplitMix64 rng(9);
  std::vector<int> counts(6, 0);
  for (int i = 0; i < 60000; ++i) ++counts[rng.below(6)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
  for (int i = 0; i < 1000; ++i) {
    double u = rng.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(RankSampler, KnownFirstValuesPinThePermutationAcrossPlatforms) {
  // SplitMix64 from seed 0: the published reference sequence.
  SplitMix64 rng(0);
  EXPECT_EQ(rng.next(), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(rng.next(), 0x6E789E6AA1B965F4ull);
}

}  // namespace
}  // namespace shrike::data
