// pipeline/train/validation_gather.cpp: packing, gathering and merging the per-batch
// validation statistics of every rank (see validation_gather.h).
#include "pipeline/train/validation_gather.h"

#include <algorithm>
#include <array>

#include "pipeline/core/byte_packing.h"

namespace shrike::train {

namespace {

std::vector<unsigned char> pack_statistics(const std::vector<BatchStatistics>& all) {
  BytePacker packer;
  packer.put<std::uint64_t>(all.size());
  for (const BatchStatistics& stats : all) {
    packer.put(stats.batch);
    packer.put(stats.losses);
    packer.put(stats.images);
    packer.put_bytes(stats.metrics.pack());
  }
  return std::move(packer.bytes());
}

void unpack_statistics(std::span<const unsigned char> bytes, std::vector<BatchStatistics>& into) {
  ByteUnpacker unpacker(bytes);
  const auto count = unpacker.get<std::uint64_t>();
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto batch = unpacker.get<std::uint64_t>();
    const auto losses = unpacker.get<std::array<double, 3>>();
    const auto images = unpacker.get<std::uint64_t>();
    BatchStatistics stats{batch, DetectionMetrics::unpack(unpacker.get_bytes())};
    std::copy(losses.begin(), losses.end(), stats.losses);
    stats.images = images;
    into.push_back(std::move(stats));
  }
}

}  // namespace

std::vector<BatchStatistics> gather_batch_statistics(std::vector<BatchStatistics> mine, dist::Communicator& comm,
                                                     int root) {
  const std::vector<unsigned char> packed = pack_statistics(mine);
  const auto parts = comm.gather(packed.data(), packed.size(), root);
  std::vector<BatchStatistics> all;
  for (const auto& part : parts) unpack_statistics(part, all);
  std::sort(all.begin(), all.end(), [](const BatchStatistics& a, const BatchStatistics& b) { return a.batch < b.batch; });
  return all;
}

BatchStatistics merge_batch_statistics(const std::vector<BatchStatistics>& statistics, int nc) {
  BatchStatistics total{0, DetectionMetrics(nc)};
  for (const BatchStatistics& stats : statistics) {
    total.metrics.merge(stats.metrics);
    for (int i = 0; i < 3; ++i) total.losses[i] += stats.losses[i];
    total.images += stats.images;
  }
  return total;
}

}  // namespace shrike::train
