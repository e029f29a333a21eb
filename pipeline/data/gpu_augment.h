// pipeline/data/gpu_augment.h
//
// The GPU data path (issue 6): a batch of training recipes (augment.h, from a TrainLoader
// with recipes_only) becomes a uint8 (B, imgsz, imgsz, 3) batch on the device, equal
// byte for byte to execute_recipe_cpu of each recipe. The CPU only decodes and
// load-resizes the source images (in the loader's workers) and packs them; mosaic,
// letterbox, warp, mixup, HSV and flips run in one CUDA kernel
// (kernels::augment_batch_u8_cuda).
//
// Staging: a ring of K pinned host buffers (cudaMallocHost), each with its device twin
// and output buffer. assemble() packs the batch's sources and per-sample parameters into
// the next slot, copies them with cudaMemcpyAsync on the assembler's own copy stream (so
// the copy of batch n+1 overlaps the training step of batch n on the compute stream),
// makes the compute stream wait for the copy (an event) and queues the kernel there. A
// slot is reused only after the event recorded behind its kernel has completed, so K
// batches can be in flight. The network input is then images_u8_to_nchw_cuda
// (kernels/elementwise_cuda.h) of the returned pixels on the same stream. One caller
// thread; built only with the CUDA backend (SHRIKE_HAVE_CUDA).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "pipeline/data/augment.h"

namespace shrike::data {

class GpuBatchAssembler {
 public:
  // `stream`: the compute stream the kernel runs on and the consumer reads from (it must
  // outlive the assembler). `ring`: staging slots, at least 2.
  GpuBatchAssembler(int imgsz, cudaStream_t stream, int ring = 3);
  ~GpuBatchAssembler();
  GpuBatchAssembler(const GpuBatchAssembler&) = delete;
  GpuBatchAssembler& operator=(const GpuBatchAssembler&) = delete;

  // Queues the batch and returns the device pointer to its (recipes.size(), imgsz,
  // imgsz, 3) uint8 pixels, ready in `stream` order (work on `stream` queued after this
  // call sees them). The pointer stays valid until `ring` more assemble() calls; the
  // call blocks only while the slot it reuses is still in use by the GPU. Throws
  // InternalError for a recipe of another size, CudaError for a failed CUDA call.
  const std::uint8_t* assemble(const std::vector<TrainRecipe>& recipes);

  int imgsz() const;
  int ring() const;
  // Blocks until every queued batch is done (for tests and shutdown).
  void synchronize();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace shrike::data
