// pipeline/dist/communicator.h
//
// Collectives between the ranks of a job, behind one interface with two backends:
// MPI for CPU buffers (here) and NCCL for GPU buffers (with the CUDA backend). Every
// collective has a deadline: a peer that died or hangs makes the call abort the whole
// job with a message naming this rank and the operation, instead of waiting forever
// (DESIGN.md § Processes: "a dead rank ends the job quickly").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "pipeline/dist/mpi_context.h"

namespace shrike::dist {

enum class ReduceOp { kSum, kAvg, kMax };
enum class DataType { kFloat32, kFloat64, kInt64 };

// A collective started without waiting for it (gradient buckets launched while the
// backward pass goes on). The buffer must stay untouched until it completes.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Drives it on and says whether it has completed (never blocks).
  virtual bool test() = 0;
  // Blocks until it completes, within the communicator's deadline.
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // Ranks on this rank's node (all of them: one node, shared memory).
  virtual int local_world() const = 0;
  // In place, `count` elements.
  virtual void all_reduce(void* data, std::size_t count, DataType type, ReduceOp op) = 0;
  // Starts an in-place float32 sum; every rank must start the same ones in the same order.
  virtual std::unique_ptr<PendingCollective> start_all_reduce_sum(float* data, std::size_t count) = 0;
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Every rank sends `bytes` bytes (any count, 0 allowed); `root` receives them all, in
  // rank order (element r from rank r). Other ranks get an empty vector.
  virtual std::vector<std::vector<unsigned char>> gather(const void* data, std::size_t bytes, int root) = 0;
  [[noreturn]] virtual void abort(const std::string& why) = 0;
  // The deadline of the following collectives (rank 0 validating while the others wait
  // needs a long one; the steps a short one).
  virtual void set_timeout(double seconds) = 0;
  virtual double timeout() const = 0;
  // Device communicators (NCCL): the CUDA stream (a cudaStream_t) whose queued work
  // writes the buffers; every collective then starts after the work queued on it so far,
  // so a gradient bucket can be reduced while later backward kernels still run. Host
  // communicators ignore it.
  virtual void set_producer_stream(void* /*stream*/) {}

  void all_reduce(std::span<float> data, ReduceOp op) { all_reduce(data.data(), data.size(), DataType::kFloat32, op); }
  void all_reduce(std::span<double> data, ReduceOp op) { all_reduce(data.data(), data.size(), DataType::kFloat64, op); }
  void all_reduce(std::span<std::int64_t> data, ReduceOp op) {
    all_reduce(data.data(), data.size(), DataType::kInt64, op);
  }
};

// Collectives over MPI_COMM_WORLD. `timeout_seconds` bounds every call.
std::unique_ptr<Communicator> make_mpi_communicator(const MpiContext& context, double timeout_seconds = 60.0);

}  // namespace shrike::dist
