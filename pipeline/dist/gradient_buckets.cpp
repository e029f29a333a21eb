// pipeline/dist/gradient_buckets.cpp: bucketing the flat gradient buffer and launching
// each bucket's all-reduce when the backward pass completes it (see gradient_buckets.h).
#include "pipeline/dist/gradient_buckets.h"

#include <fmt/core.h>

#include <stdexcept>

namespace shrike::dist {

GradientBuckets::GradientBuckets(Communicator& comm, std::span<float> grads, std::vector<GradientSlice> slices,
                                 std::size_t bucket_bytes)
    : comm_(comm), grads_(grads), bucket_of_param_(slices.size(), -1), param_ready_(slices.size(), false) {
  const std::size_t bucket_numel = std::max<std::size_t>(bucket_bytes / sizeof(float), 1);
  // Whole parameters, walking from the last one back; a bucket closes once it is full.
  for (std::size_t i = slices.size(); i-- > 0;) {
    const GradientSlice& slice = slices[i];
    if (slice.numel == 0) continue;  // no gradient (a buffer or a frozen parameter)
    if (slice.offset + slice.numel > grads.size()) {
      throw std::invalid_argument(fmt::format("GradientBuckets: parameter {} [{}, +{}) outside the {}-float buffer", i,
                                              slice.offset, slice.numel, grads.size()));
    }
    if (buckets_.empty() || buckets_.back().numel >= bucket_numel ||
        slice.offset + slice.numel != buckets_.back().offset) {  // full, or not contiguous
      buckets_.push_back({slice.offset + slice.numel, 0, 0, 0, nullptr});
    }
    Bucket& bucket = buckets_.back();
    bucket.offset = slice.offset;
    bucket.numel += slice.numel;
    ++bucket.params;
    bucket_of_param_[i] = static_cast<int>(buckets_.size() - 1);
  }
}

void GradientBuckets::begin() {
  if (armed_) throw std::logic_error("GradientBuckets::begin: the previous pass was not finished");
  std::fill(param_ready_.begin(), param_ready_.end(), false);
  for (Bucket& bucket : buckets_) bucket.ready = 0;
  stats_ = BucketStats{static_cast<int>(buckets_.size()), 0, 0, 0};
  armed_ = true;
}

void GradientBuckets::start(Bucket& bucket) {
  bucket.pending = comm_.start_all_reduce_sum(grads_.data() + bucket.offset, bucket.numel);
  stats_.reduced_bytes += static_cast<double>(bucket.numel * sizeof(float));
}

void GradientBuckets::on_gradient_ready(int param) {
  if (!armed_) return;
  const auto index = static_cast<std::size_t>(param);
  if (index >= param_ready_.size() || bucket_of_param_[index] < 0 || param_ready_[index]) return;
  param_ready_[index] = true;
  Bucket& bucket = buckets_[static_cast<std::size_t>(bucket_of_param_[index])];
  if (++bucket.ready == bucket.params) {
    start(bucket);
    ++stats_.started_during_backward;
  }
  for (Bucket& other : buckets_) {  // MPI progresses non-blocking collectives inside MPI calls
    if (other.pending) other.pending->test();
  }
}

BucketStats GradientBuckets::finish() {
  if (!armed_) throw std::logic_error("GradientBuckets::finish without begin");
  for (Bucket& bucket : buckets_) {
    if (!bucket.pending) start(bucket);  // parameters this pass did not reach
  }
  const auto waiting = std::chrono::steady_clock::now();
  for (Bucket& bucket : buckets_) {
    bucket.pending->wait();
    bucket.pending.reset();
  }
  stats_.wait_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - waiting).count();
  armed_ = false;
  return stats_;
}

}  // namespace shrike::dist
