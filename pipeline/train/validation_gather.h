// pipeline/train/validation_gather.h
//
// Distributed validation's data plane: each rank's per-batch statistics (detection
// matches and losses) packed, gathered to one rank over the communicator, and merged
// there in batch order, so the metrics equal those of one process validating every
// batch itself. Kept apart from the validator so a test under mpirun can check the
// merge on made-up detections without a model.
#pragma once

#include <cstdint>
#include <vector>

#include "pipeline/dist/communicator.h"
#include "pipeline/train/detection_metrics.h"

namespace shrike::train {

// One validation batch's contribution.
struct BatchStatistics {
  std::uint64_t batch = 0;         // index in the validation loader
  DetectionMetrics metrics;        // that batch's images only
  double losses[3] = {0, 0, 0};    // box, cls, dfl of the batch
  std::uint64_t images = 0;
};

// Every rank calls it with its batches; `root` gets all ranks' batches sorted by batch
// index, the others an empty vector. Times out (and aborts the job) as the
// communicator's collectives do.
std::vector<BatchStatistics> gather_batch_statistics(std::vector<BatchStatistics> mine, dist::Communicator& comm,
                                                     int root);

// The sum of `statistics` in their order: metrics merged, losses and images summed.
BatchStatistics merge_batch_statistics(const std::vector<BatchStatistics>& statistics, int nc);

}  // namespace shrike::train
