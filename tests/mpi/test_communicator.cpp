// tests/mpi/test_communicator.cpp: the MPI communicator under a real `mpirun -np N`:
// all-reduce (sum, avg, max) of float32, float64 and int64 buffers from 1 element to
// 64 MiB (uneven sizes included), broadcast, barrier, gather of uneven byte counts, the bucketed gradient all-reduce, the node-local rank, and the
// threads-per-rank rule. Every rank checks every result; the exit code is the verdict.
#include <fmt/core.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "pipeline/dist/communicator.h"
#include "pipeline/dist/gradient_buckets.h"

using namespace shrike::dist;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    fmt::print(stderr, "FAIL: {}\n", what);
  }
}

template <typename T>
void check_all_reduce(Communicator& comm, std::size_t count, DataType type) {
  const int r = comm.rank(), n = comm.world();
  std::vector<T> sum(count), avg(count), max(count);
  for (std::size_t i = 0; i < count; ++i) {
    const T value = static_cast<T>((i % 97) + 1000 * r);
    sum[i] = avg[i] = max[i] = value;
  }
  comm.all_reduce(sum.data(), count, type, ReduceOp::kSum);
  comm.all_reduce(avg.data(), count, type, ReduceOp::kAvg);
  comm.all_reduce(max.data(), count, type, ReduceOp::kMax);
  const double rank_sum = 1000.0 * n * (n - 1) / 2;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const double base = static_cast<double>(i % 97);
    const double expect_sum = n * base + rank_sum;
    bad += std::fabs(static_cast<double>(sum[i]) - expect_sum) > 1e-6 * std::max(1.0, expect_sum);
    bad += type != DataType::kInt64 &&
           std::fabs(static_cast<double>(avg[i]) - expect_sum / n) > 1e-6 * std::max(1.0, expect_sum);
    bad += static_cast<double>(max[i]) != base + 1000.0 * (n - 1);
  }
  check(bad == 0, fmt::format("all-reduce of {} elements (type {}): {} wrong", count, static_cast<int>(type), bad));
}

// Rank r sends r * 1000 + 3 bytes of value r (rank 0 sends 3, so one part may be small);
// rank 1 gathers them (a non-zero root) and checks each part's size and contents.
void check_gather(Communicator& comm) {
  const int r = comm.rank(), n = comm.world();
  const int root = n > 1 ? 1 : 0;
  std::vector<unsigned char> mine(static_cast<std::size_t>(r) * 1000 + 3, static_cast<unsigned char>(r));
  const auto parts = comm.gather(mine.data(), mine.size(), root);
  if (r != root) {
    check(parts.empty(), "gather: a non-root rank receives nothing");
    return;
  }
  check(parts.size() == static_cast<std::size_t>(n), fmt::format("gather: {} parts for {} ranks", parts.size(), n));
  for (std::size_t p = 0; p < parts.size(); ++p) {
    bool ok = parts[p].size() == p * 1000 + 3;
    for (unsigned char byte : parts[p]) ok = ok && byte == static_cast<unsigned char>(p);
    check(ok, fmt::format("gather: part {} has {} bytes, expected {} of value {}", p, parts[p].size(), p * 1000 + 3, p));
  }
}

// Bucketed all-reduce as the trainer drives it: 7 parameters (one without a gradient),
// buckets of 400 bytes, gradients finished in reverse order except parameter 1, which
// the pass never reaches (finish() must still reduce it). Twice, to check re-arming.
void check_gradient_buckets(Communicator& comm) {
  const std::vector<std::size_t> sizes = {30, 120, 7, 0, 250, 64, 33};
  std::vector<GradientSlice> slices;
  std::size_t offset = 0;
  for (std::size_t numel : sizes) {
    slices.push_back({numel == 0 ? 0 : offset, numel});
    offset += numel;
  }
  std::vector<float> grads(offset);
  GradientBuckets buckets(comm, grads, slices, 400);
  check(buckets.bucket_count() > 2, fmt::format("{} buckets for 504 floats of 100-float buckets", buckets.bucket_count()));
  const int n = comm.world(), r = comm.rank();
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < grads.size(); ++i) grads[i] = static_cast<float>(i % 13 + 100 * r + pass);
    buckets.begin();
    for (int p = static_cast<int>(sizes.size()) - 1; p >= 0; --p) {
      if (p != 1) buckets.on_gradient_ready(p);
    }
    const BucketStats stats = buckets.finish();
    std::size_t bad = 0;
    for (std::size_t i = 0; i < grads.size(); ++i) {
      bad += grads[i] != static_cast<float>(n * (i % 13 + pass) + 100.0 * n * (n - 1) / 2);
    }
    check(bad == 0, fmt::format("bucketed all-reduce pass {}: {} wrong sums", pass, bad));
    check(stats.started_during_backward > 0 && stats.started_during_backward < stats.buckets,
          fmt::format("pass {}: {} of {} buckets started during the pass (the one holding parameter 1 only at finish)",
                      pass, stats.started_during_backward, stats.buckets));
  }
}

}  // namespace

int main(int argc, char** argv) {
  MpiContext context(&argc, &argv);
  auto comm = make_mpi_communicator(context, 60.0);
  for (std::size_t count : {std::size_t{1}, std::size_t{3}, std::size_t{1000}, std::size_t{(1 << 20) + 7},
                            std::size_t{16 << 20}}) {  // 16 Mi floats = 64 MiB
    check_all_reduce<float>(*comm, count, DataType::kFloat32);
  }
  check_all_reduce<double>(*comm, 12345, DataType::kFloat64);
  check_all_reduce<std::int64_t>(*comm, 777, DataType::kInt64);
  std::vector<std::uint8_t> blob(1 << 16);
  for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = context.rank() == 0 ? static_cast<std::uint8_t>(i * 7) : 0;
  comm->broadcast(blob.data(), blob.size(), 0);
  bool same = true;
  for (std::size_t i = 0; i < blob.size(); ++i) same = same && blob[i] == static_cast<std::uint8_t>(i * 7);
  check(same, "broadcast from rank 0");
  comm->barrier();
  check_gather(*comm);
  check_gradient_buckets(*comm);
  check(context.local_rank() == context.rank(), "one node: the local rank is the rank");
  check(context.threads() >= 1, "threads per rank");
  // Everyone learns the failure count, so the verdict is the job's.
  std::int64_t total = failures;
  comm->all_reduce(std::span<std::int64_t>(&total, 1), ReduceOp::kSum);
  if (context.is_root()) {
    fmt::print("{}: {} ranks, {} threads per rank: {}\n", context.where(), context.world(), context.threads(),
               total == 0 ? "PASS" : "FAIL");
  }
  return total == 0 ? 0 : 1;
}
