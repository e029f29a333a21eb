// pipeline/dist/nccl_communicator.cpp: the NCCL backend (see nccl_communicator.h).
#include "pipeline/dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <fmt/core.h>
#include <nccl.h>

#include <chrono>
#include <thread>

#include "pipeline/core/error.h"

#define CUDA_CHECK(call)                                                                              \
  do {                                                                                                \
    const cudaError_t shrike_cuda_status_ = (call);                                                   \
    if (shrike_cuda_status_ != cudaSuccess)                                                           \
      ::shrike::fail_internal("{} failed: {} ({}:{})", #call, cudaGetErrorString(shrike_cuda_status_), \
                              __FILE__, __LINE__);                                                    \
  } while (0)

#define NCCL_CHECK(call)                                                                               \
  do {                                                                                                 \
    const ncclResult_t shrike_nccl_status_ = (call);                                                   \
    if (shrike_nccl_status_ != ncclSuccess)                                                            \
      ::shrike::fail_internal("{} failed: {} ({}:{})", #call, ncclGetErrorString(shrike_nccl_status_), \
                              __FILE__, __LINE__);                                                     \
  } while (0)

namespace shrike::dist {

namespace {

ncclDataType_t nccl_type(DataType type) {
  switch (type) {
    case DataType::kFloat32: return ncclFloat32;
    case DataType::kFloat64: return ncclFloat64;
    case DataType::kInt64: return ncclInt64;
  }
  return ncclFloat32;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kAvg: return ncclAvg;
    case ReduceOp::kMax: return ncclMax;
  }
  return ncclSum;
}

class NcclCommunicator;

class NcclPending : public PendingCollective {
 public:
  NcclPending(NcclCommunicator& owner, cudaEvent_t done, std::size_t count) : owner_(owner), done_(done), count_(count) {}
  ~NcclPending() override;
  bool test() override;
  void wait() override;

 private:
  NcclCommunicator& owner_;
  cudaEvent_t done_;
  std::size_t count_;
  bool complete_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const MpiContext& context, Communicator& control, int device, double timeout)
      : context_(context), control_(control), device_(device), timeout_(timeout) {
    CUDA_CHECK(cudaSetDevice(device_));
    ncclUniqueId id{};
    if (context_.is_root()) NCCL_CHECK(ncclGetUniqueId(&id));
    control_.broadcast(&id, sizeof id, 0);
    CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    // Non-blocking init, so a peer that never joins cannot hang this rank.
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const ncclResult_t started = ncclCommInitRankConfig(&comm_, context_.world(), id, context_.rank(), &config);
    if (started != ncclSuccess && started != ncclInProgress) {
      fail_internal("ncclCommInitRankConfig(world {}, rank {}, device {}) failed: {}", context_.world(),
                    context_.rank(), device_, ncclGetErrorString(started));
    }
    wait_for_comm("NCCL communicator initialisation");
  }

  ~NcclCommunicator() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (produced_ != nullptr) cudaEventDestroy(produced_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  int rank() const override { return context_.rank(); }
  int world() const override { return context_.world(); }
  int local_world() const override { return context_.local_world(); }

  void set_producer_stream(void* stream) override {
    producer_ = static_cast<cudaStream_t>(stream);
    if (producer_ != nullptr && produced_ == nullptr) {
      CUDA_CHECK(cudaEventCreateWithFlags(&produced_, cudaEventDisableTiming));
    }
  }

  // The communicator's stream waits for everything queued on the producer stream so far.
  void after_producer() {
    if (producer_ == nullptr) return;
    CUDA_CHECK(cudaEventRecord(produced_, producer_));
    CUDA_CHECK(cudaStreamWaitEvent(stream_, produced_, 0));
  }

  void all_reduce(void* data, std::size_t count, DataType type, ReduceOp op) override {
    if (count == 0) return;
    after_producer();
    NCCL_CHECK(ncclAllReduce(data, data, count, nccl_type(type), nccl_op(op), comm_, stream_));
    wait_for_stream(fmt::format("NCCL all-reduce of {} elements", count));
  }

  std::unique_ptr<PendingCollective> start_all_reduce_sum(float* data, std::size_t count) override {
    cudaEvent_t done;
    CUDA_CHECK(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    after_producer();
    if (count > 0) NCCL_CHECK(ncclAllReduce(data, data, count, ncclFloat32, ncclSum, comm_, stream_));
    CUDA_CHECK(cudaEventRecord(done, stream_));
    return std::make_unique<NcclPending>(*this, done, count);
  }

  // Device bytes from `root` to every rank.
  void broadcast(void* data, std::size_t bytes, int root) override {
    if (bytes == 0) return;
    after_producer();
    NCCL_CHECK(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_));
    wait_for_stream(fmt::format("NCCL broadcast of {} bytes from rank {}", bytes, root));
  }

  void barrier() override { control_.barrier(); }
  std::vector<std::vector<unsigned char>> gather(const void* data, std::size_t bytes, int root) override {
    return control_.gather(data, bytes, root);  // host bytes: the control plane
  }

  [[noreturn]] void abort(const std::string& why) override {
    if (comm_ != nullptr) ncclCommAbort(comm_);
    comm_ = nullptr;
    context_.abort(why);
  }
  void set_timeout(double seconds) override { timeout_ = seconds; }
  double timeout() const override { return timeout_; }

  // Polls `ready` (true when the work is done) and NCCL's asynchronous error until the
  // deadline; then aborts NCCL and the job, naming the operation.
  template <typename Ready>
  void poll_until(Ready ready, const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_);
    auto pause = std::chrono::microseconds(10);
    for (;;) {
      if (ready()) return;
      ncclResult_t async = ncclSuccess;
      NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
      if (async != ncclSuccess && async != ncclInProgress) {
        abort(fmt::format("{} failed on device {}: {}", what, device_, ncclGetErrorString(async)));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        abort(fmt::format("{} did not complete within {:.0f} s on device {}: another rank has died or is stuck "
                          "(see its own log for the cause)", what, timeout_, device_));
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }

 private:
  void wait_for_stream(const std::string& what) {
    poll_until([this] {
      const cudaError_t status = cudaStreamQuery(stream_);
      if (status == cudaErrorNotReady) return false;
      CUDA_CHECK(status);
      return true;
    }, what);
  }

  void wait_for_comm(const std::string& what) {
    poll_until([this] {
      ncclResult_t state = ncclInProgress;
      NCCL_CHECK(ncclCommGetAsyncError(comm_, &state));
      return state == ncclSuccess;
    }, what);
  }

  const MpiContext& context_;
  Communicator& control_;
  int device_;
  double timeout_;
  cudaStream_t stream_ = nullptr;
  cudaStream_t producer_ = nullptr;  // set_producer_stream: the compute stream
  cudaEvent_t produced_ = nullptr;
  ncclComm_t comm_ = nullptr;
};

NcclPending::~NcclPending() {
  if (!complete_) wait();
  cudaEventDestroy(done_);
}

bool NcclPending::test() {
  if (complete_) return true;
  const cudaError_t status = cudaEventQuery(done_);
  if (status == cudaErrorNotReady) return false;
  CUDA_CHECK(status);
  complete_ = true;
  return true;
}

void NcclPending::wait() {
  if (complete_) return;
  owner_.poll_until([this] { return test(); }, fmt::format("NCCL all-reduce of a {}-element gradient bucket", count_));
}

}  // namespace

int select_local_gpu(const MpiContext& context) {
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    fail_user("{}: no usable CUDA device ({}). Train with device=cpu, or check the driver and "
              "CUDA_VISIBLE_DEVICES", context.where(), status != cudaSuccess ? cudaGetErrorString(status) : "0 devices");
  }
  if (context.local_world() > devices) {
    fail_user("{}: {} ranks on this node but {} visible GPU(s): start one rank per GPU (srun --ntasks-per-node={} "
              "or mpirun -np {} per node), or make more GPUs visible", context.where(), context.local_world(),
              devices, devices, devices);
  }
  return context.local_rank();
}

std::unique_ptr<Communicator> make_nccl_communicator(const MpiContext& context, Communicator& control, int device,
                                                     double timeout_seconds) {
  return std::make_unique<NcclCommunicator>(context, control, device, timeout_seconds);
}

}  // namespace shrike::dist
