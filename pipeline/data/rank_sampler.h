// pipeline/data/rank_sampler.h
//
// Which samples each of N ranks reads in an epoch. One global permutation per epoch,
// a pure function of (seed, epoch, dataset size): the same on every rank and machine,
// so no communication is needed and a resumed run sees the batches the uninterrupted
// one would have. Rank r of N takes permutation positions r, r+N, r+2N, ... so that
// global batch b (positions b*B .. b*B+B-1) is split across ranks whatever N is.
// Slices are disjoint, cover every sample, and differ in length by at most one; with
// `pad` every rank gets ceil(size/N) by wrapping around to the start of the
// permutation (as PyTorch's DistributedSampler does), so ranks stay in lockstep.
#pragma once

#include <cstdint>
#include <vector>

#include "pipeline/core/random.h"

namespace shrike::data {

// Mixes several values into one seed (for per-epoch, per-sample generators).
std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0);

// The permutation of [0, size) for `epoch` (Fisher-Yates driven by SplitMix64).
std::vector<std::uint64_t> epoch_permutation(std::uint64_t size, std::uint64_t seed, std::uint64_t epoch);

// Sample indices of rank `rank` of `world` for `epoch` (see above).
std::vector<std::uint64_t> rank_slice(std::uint64_t size, std::uint64_t seed, std::uint64_t epoch, int rank,
                                      int world, bool pad);

}  // namespace shrike::data
