// pipeline/data/gpu_augment.cpp: GpuBatchAssembler (gpu_augment.h). Each slot of the ring
// holds one pinned buffer laid out as [AugmentSample x B | padding | source pixels], its
// device twin (one cudaMemcpyAsync moves both), and the batch's output.
#include "pipeline/data/gpu_augment.h"

#include <algorithm>
#include <cstring>

#include "kernels/augment_cuda.h"
#include "kernels/cuda_check.h"
#include "kernels/device_array.h"
#include "pipeline/core/error.h"

namespace shrike::data {

namespace {

constexpr std::size_t kAlign = 256;

std::size_t align_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// A growing page-locked host buffer (cudaMallocHost), so cudaMemcpyAsync from it is a
// true asynchronous DMA.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() {
    if (data_ != nullptr) cudaFreeHost(data_);  // never throws; an error shows at the next call
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  // Room for `bytes` (contents lost when it grows, by half again to limit reallocations).
  void reserve(std::size_t bytes) {
    if (bytes <= capacity_) return;
    const std::size_t grown = std::max(bytes, capacity_ + capacity_ / 2);
    if (data_ != nullptr) CUDA_CHECK(cudaFreeHost(data_));
    data_ = nullptr;
    capacity_ = 0;
    CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&data_), grown));
    capacity_ = grown;
  }
  std::uint8_t* data() { return data_; }

 private:
  std::uint8_t* data_ = nullptr;
  std::size_t capacity_ = 0;
};

struct Slot {
  PinnedBuffer host;
  kernels::DeviceArray<std::uint8_t> device;
  kernels::DeviceArray<std::uint8_t> output;
  cudaEvent_t copied = nullptr;  // the host buffer has been read (copy stream)
  cudaEvent_t done = nullptr;    // the kernel has read the device buffer (compute stream)
  bool in_use = false;
};

// Room for `bytes` in `array`, growing by half again (contents lost).
void grow(kernels::DeviceArray<std::uint8_t>& array, std::size_t bytes) {
  if (array.size() < bytes) array.resize(std::max(bytes, array.size() + array.size() / 2));
}

}  // namespace

struct GpuBatchAssembler::State {
  int imgsz = 0;
  cudaStream_t stream = nullptr;
  cudaStream_t copy_stream = nullptr;
  std::vector<Slot> slots;
  std::size_t next = 0;

  ~State() {  // never throws: waits for the GPU, then releases
    // `done` covers the augment kernels only; the consumer's reads of the outputs are
    // queued behind them on `stream`, and the outputs are freed after this.
    if (stream != nullptr) cudaStreamSynchronize(stream);
    for (Slot& slot : slots) {
      if (slot.in_use) cudaEventSynchronize(slot.done);
      if (slot.copied != nullptr) cudaEventDestroy(slot.copied);
      if (slot.done != nullptr) cudaEventDestroy(slot.done);
    }
    if (copy_stream != nullptr) cudaStreamDestroy(copy_stream);
  }
};

GpuBatchAssembler::GpuBatchAssembler(int imgsz, cudaStream_t stream, int ring) : state_(std::make_unique<State>()) {
  if (imgsz < 1) fail_internal("GpuBatchAssembler: imgsz {} must be positive", imgsz);
  if (ring < 2) fail_internal("GpuBatchAssembler: a ring of {} staging buffers; at least 2 overlap", ring);
  State& st = *state_;
  st.imgsz = imgsz;
  st.stream = stream;
  CUDA_CHECK(cudaStreamCreateWithFlags(&st.copy_stream, cudaStreamNonBlocking));
  st.slots = std::vector<Slot>(static_cast<std::size_t>(ring));
  for (Slot& slot : st.slots) {
    CUDA_CHECK(cudaEventCreateWithFlags(&slot.copied, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming));
  }
}

GpuBatchAssembler::~GpuBatchAssembler() = default;

int GpuBatchAssembler::imgsz() const { return state_->imgsz; }
int GpuBatchAssembler::ring() const { return static_cast<int>(state_->slots.size()); }

void GpuBatchAssembler::synchronize() {
  for (Slot& slot : state_->slots) {
    if (slot.in_use) CUDA_CHECK(cudaEventSynchronize(slot.done));
  }
}

const std::uint8_t* GpuBatchAssembler::assemble(const std::vector<TrainRecipe>& recipes) {
  State& st = *state_;
  const int s = st.imgsz;
  if (recipes.empty()) fail_internal("GpuBatchAssembler::assemble: an empty batch");
  std::size_t sources = 0;
  for (std::size_t i = 0; i < recipes.size(); ++i) {
    const TrainRecipe& r = recipes[i];
    if (r.height != s || r.width != s) {
      fail_internal("GpuBatchAssembler: recipe {} is {}x{}, the assembler makes {}x{}", i, r.height, r.width, s, s);
    }
    check_recipe(r);
    sources += recipe_source_bytes(r);
  }
  const std::size_t batch = recipes.size();
  const std::size_t header = align_up(batch * sizeof(kernels::AugmentSample));
  const std::size_t total = header + sources;

  Slot& slot = st.slots[st.next];
  st.next = (st.next + 1) % st.slots.size();
  if (slot.in_use) CUDA_CHECK(cudaEventSynchronize(slot.done));  // its last kernel has read it
  slot.in_use = false;
  slot.host.reserve(total);
  grow(slot.device, total);
  const std::size_t output_bytes = batch * static_cast<std::size_t>(s) * s * 3;
  // Reallocating the output frees the old one, which work queued on the compute stream
  // after its kernel (the consumer's read) may still use: `done` does not cover that.
  if (slot.output.size() < output_bytes) CUDA_CHECK(cudaStreamSynchronize(st.stream));
  grow(slot.output, output_bytes);

  std::uint8_t* staging = slot.host.data();
  std::size_t offset = header;
  for (std::size_t i = 0; i < batch; ++i) {
    const kernels::AugmentSample sample = pack_recipe(recipes[i], staging, &offset);
    std::memcpy(staging + i * sizeof(kernels::AugmentSample), &sample, sizeof sample);
  }
  CUDA_CHECK(cudaMemcpyAsync(slot.device.data(), staging, total, cudaMemcpyHostToDevice, st.copy_stream));
  CUDA_CHECK(cudaEventRecord(slot.copied, st.copy_stream));
  CUDA_CHECK(cudaStreamWaitEvent(st.stream, slot.copied, 0));
  kernels::augment_batch_u8_cuda(slot.output.data(), static_cast<int>(batch), s,
                                 reinterpret_cast<const kernels::AugmentSample*>(slot.device.data()),
                                 slot.device.data(), st.stream);
  CUDA_CHECK(cudaEventRecord(slot.done, st.stream));
  slot.in_use = true;
  return slot.output.data();
}

}  // namespace shrike::data
