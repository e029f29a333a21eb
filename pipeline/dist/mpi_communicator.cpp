// pipeline/dist/mpi_communicator.cpp: the MPI backend. Non-blocking collectives
// (MPI_Iallreduce, MPI_Ibcast, MPI_Ibarrier) polled with MPI_Test until they complete
// or the deadline passes; then MPI_Abort ends every rank. Buffers larger than INT_MAX
// elements go in pieces.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <thread>

#include "pipeline/dist/communicator.h"

namespace shrike::dist {

namespace {

MPI_Datatype mpi_type(DataType type) {
  switch (type) {
    case DataType::kFloat32: return MPI_FLOAT;
    case DataType::kFloat64: return MPI_DOUBLE;
    case DataType::kInt64: return MPI_INT64_T;
  }
  return MPI_BYTE;
}

std::size_t element_size(DataType type) { return type == DataType::kFloat32 ? 4 : 8; }

template <typename T>
void scale(void* data, std::size_t count, double factor) {
  T* values = static_cast<T*>(data);
  for (std::size_t i = 0; i < count; ++i) values[i] = static_cast<T>(values[i] * factor);
}

class MpiCommunicator;

class MpiPending : public PendingCollective {
 public:
  MpiPending(MpiCommunicator& owner, MPI_Request request, std::size_t count)
      : owner_(owner), request_(request), count_(count) {}
  ~MpiPending() override;
  bool test() override {
    if (done_) return true;
    int done = 0;
    MPI_CHECK(MPI_Test(&request_, &done, MPI_STATUS_IGNORE));
    done_ = done != 0;
    return done_;
  }
  void wait() override;

 private:
  MpiCommunicator& owner_;
  MPI_Request request_;
  std::size_t count_;
  bool done_ = false;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(const MpiContext& context, double timeout) : context_(context), timeout_(timeout) {}

  int rank() const override { return context_.rank(); }
  int world() const override { return context_.world(); }
  int local_world() const override { return context_.local_world(); }

  void all_reduce(void* data, std::size_t count, DataType type, ReduceOp op) override {
    if (context_.world() == 1 || count == 0) return;
    const MPI_Op mpi_op = op == ReduceOp::kMax ? MPI_MAX : MPI_SUM;
    auto* bytes = static_cast<unsigned char*>(data);
    for (std::size_t done = 0; done < count;) {
      const std::size_t piece = std::min<std::size_t>(count - done, INT_MAX);
      MPI_Request request;
      MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, bytes + done * element_size(type), static_cast<int>(piece),
                               mpi_type(type), mpi_op, MPI_COMM_WORLD, &request));
      wait(request, fmt::format("all-reduce of {} elements", count));
      done += piece;
    }
    if (op == ReduceOp::kAvg) {
      const double factor = 1.0 / context_.world();
      if (type == DataType::kFloat32) scale<float>(data, count, factor);
      if (type == DataType::kFloat64) scale<double>(data, count, factor);
      if (type == DataType::kInt64) scale<std::int64_t>(data, count, factor);
    }
  }

  std::unique_ptr<PendingCollective> start_all_reduce_sum(float* data, std::size_t count) override {
    if (count > static_cast<std::size_t>(INT_MAX)) {
      context_.abort(fmt::format("start_all_reduce_sum of {} elements: more than MPI's int counts allow", count));
    }
    MPI_Request request = MPI_REQUEST_NULL;
    if (context_.world() > 1 && count > 0) {
      MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                               &request));
    }
    return std::make_unique<MpiPending>(*this, request, count);
  }

  void broadcast(void* data, std::size_t bytes, int root) override {
    if (context_.world() == 1 || bytes == 0) return;
    auto* base = static_cast<unsigned char*>(data);
    for (std::size_t done = 0; done < bytes;) {
      const std::size_t piece = std::min<std::size_t>(bytes - done, INT_MAX);
      MPI_Request request;
      MPI_CHECK(MPI_Ibcast(base + done, static_cast<int>(piece), MPI_BYTE, root, MPI_COMM_WORLD, &request));
      wait(request, fmt::format("broadcast of {} bytes from rank {}", bytes, root));
      done += piece;
    }
  }

  std::vector<std::vector<unsigned char>> gather(const void* data, std::size_t bytes, int root) override {
    const int ranks = context_.world();
    if (ranks == 1) return {std::vector<unsigned char>(static_cast<const unsigned char*>(data),
                                                       static_cast<const unsigned char*>(data) + bytes)};
    if (bytes > static_cast<std::size_t>(INT_MAX)) {
      context_.abort(fmt::format("gather of {} bytes from one rank: more than MPI's int counts allow", bytes));
    }
    // First the sizes, then the bytes at their displacements.
    int mine = static_cast<int>(bytes);
    std::vector<int> sizes(static_cast<std::size_t>(ranks));
    MPI_Request request;
    MPI_CHECK(MPI_Igather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, MPI_COMM_WORLD, &request));
    wait(request, "gather of the byte counts");
    std::vector<int> offsets(sizes.size(), 0);
    std::size_t total = 0;
    for (std::size_t r = 0; r < sizes.size(); ++r) {
      if (total > static_cast<std::size_t>(INT_MAX)) context_.abort("gather: more than 2 GiB in all");
      offsets[r] = static_cast<int>(total);
      total += static_cast<std::size_t>(sizes[r]);
    }
    std::vector<unsigned char> all(context_.rank() == root ? total : 0);
    MPI_CHECK(MPI_Igatherv(data, mine, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, root,
                           MPI_COMM_WORLD, &request));
    wait(request, fmt::format("gather of {} bytes to rank {}", bytes, root));
    std::vector<std::vector<unsigned char>> parts;
    if (context_.rank() != root) return parts;
    for (std::size_t r = 0; r < sizes.size(); ++r) {
      parts.emplace_back(all.begin() + offsets[r], all.begin() + offsets[r] + sizes[r]);
    }
    return parts;
  }

  void barrier() override {
    if (context_.world() == 1) return;
    MPI_Request request;
    MPI_CHECK(MPI_Ibarrier(MPI_COMM_WORLD, &request));
    wait(request, "barrier");
  }

  [[noreturn]] void abort(const std::string& why) override { context_.abort(why); }
  void set_timeout(double seconds) override { timeout_ = seconds; }
  double timeout() const override { return timeout_; }

 private:
  friend class MpiPending;

  // Polls `request` until done; past the deadline, ends the job naming the operation.
  void wait(MPI_Request& request, const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_);
    auto pause = std::chrono::microseconds(20);
    for (;;) {
      int done = 0;
      MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
      if (done) return;
      if (std::chrono::steady_clock::now() > deadline) {
        context_.abort(fmt::format("{} did not complete within {:.0f} s: another rank has died or is stuck "
                                   "(see its own log for the cause)", what, timeout_));
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(2000));
    }
  }

  const MpiContext& context_;
  double timeout_;
};

MpiPending::~MpiPending() {
  // A request may not be dropped in flight: the buffer would be written later.
  if (!done_ && request_ != MPI_REQUEST_NULL) wait();
}

void MpiPending::wait() {
  if (done_) return;
  owner_.wait(request_, fmt::format("all-reduce of a {}-element gradient bucket", count_));
  done_ = true;
}

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator(const MpiContext& context, double timeout_seconds) {
  return std::make_unique<MpiCommunicator>(context, timeout_seconds);
}

}  // namespace shrike::dist
