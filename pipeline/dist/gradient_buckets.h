// pipeline/dist/gradient_buckets.h
//
// Data-parallel gradient averaging overlapped with the backward pass, as PyTorch's
// DDP reducer does it: the flat gradient buffer is cut into buckets of about
// `bucket_bytes` (whole parameters, contiguous in the buffer), and a bucket's
// all-reduce starts as soon as the backward pass has finished every gradient in it,
// while the earlier layers are still being differentiated. Backward finishes the last
// layers first, so the buckets are cut from the end of the buffer.
//
// Every rank starts the same buckets in the same order, because readiness follows the
// (identical) order in which the graph commits parameter gradients, never timing.
// finish() starts what is left (parameters the pass did not reach) and waits for all.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "pipeline/dist/communicator.h"

namespace shrike::dist {

// One parameter's gradient: [offset, offset + numel) of the flat buffer; numel 0 for
// state without a gradient (BatchNorm buffers, frozen tensors).
struct GradientSlice {
  std::size_t offset = 0;
  std::size_t numel = 0;
};

struct BucketStats {
  int buckets = 0;
  int started_during_backward = 0;  // launched before finish(): overlapped with compute
  double wait_seconds = 0;          // time finish() blocked: communication not hidden
  double reduced_bytes = 0;
};

class GradientBuckets {
 public:
  // `slices` in parameter index order (the order of the flat buffer); `grads` must stay
  // valid for the object's life.
  GradientBuckets(Communicator& comm, std::span<float> grads, std::vector<GradientSlice> slices,
                  std::size_t bucket_bytes);

  // Arms the reducer for the next backward pass (the one whose gradients are summed).
  void begin();
  bool armed() const { return armed_; }
  // The backward pass finished parameter `param`'s gradient. Starts its bucket once the
  // bucket is complete, and drives the buckets in flight on.
  void on_gradient_ready(int param);
  // Starts the remaining buckets, waits for all, disarms. The buffer then holds the sum.
  BucketStats finish();

  int bucket_count() const { return static_cast<int>(buckets_.size()); }

 private:
  struct Bucket {
    std::size_t offset = 0, numel = 0;  // range of the flat buffer
    int params = 0, ready = 0;          // parameters in it, and those finished this pass
    std::unique_ptr<PendingCollective> pending;
  };
  void start(Bucket& bucket);

  Communicator& comm_;
  std::span<float> grads_;
  std::vector<Bucket> buckets_;        // from the end of the buffer to its start
  std::vector<int> bucket_of_param_;   // (params)
  std::vector<bool> param_ready_;      // (params) this pass
  bool armed_ = false;
  BucketStats stats_;
};

}  // namespace shrike::dist
