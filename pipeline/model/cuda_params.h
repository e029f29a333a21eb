// pipeline/model/cuda_params.h
//
// The device copy of a model's ParamStore (DESIGN.md § One parameter buffer) for the
// CUDA backend: the float state (parameters first, then the frozen DFL weight and the
// BatchNorm running statistics) and the gradient buffer, each one device buffer in
// the host store's layout, so entry offsets, optimizer spans and EMA passes carry over
// unchanged. With mixed precision a bf16 copy of the float state feeds the
// convolutions; refresh_half() re-rounds it after every optimizer step. The int64
// counters (num_batches_tracked) stay in the host store: only the host reads them.
//
// The host store stays the source of truth for files: upload() after loading or
// initialising, download() before a checkpoint, validation on the host, or export.
#pragma once

#include <cuda_bf16.h>

#include <vector>

#include "kernels/cuda_context.h"
#include "kernels/device_array.h"
#include "pipeline/model/param_store.h"

namespace shrike::model {

class CudaParams {
 public:
  CudaParams(kernels::CudaContext& context, ParamStore& host, bool keep_half);

  ParamStore& host() { return host_; }
  kernels::CudaContext& context() { return context_; }

  void upload();          // host float state -> device (and the bf16 copy)
  void download();        // device float state -> host (waits for the stream)
  void refresh_half();    // float state -> bf16 copy (no-op without keep_half)

  float* values() { return values_.data(); }
  float* grads() { return grads_.data(); }
  std::size_t float_numel() const { return values_.size(); }
  std::size_t trainable_numel() const { return host_.trainable_numel(); }

  float* value(int index) { return values_.data() + host_.entry(index).offset; }
  const __nv_bfloat16* half(int index) const { return half_.data() + host_.entry(index).offset; }
  float* grad(int index) { return grads_.data() + host_.entry(index).offset; }

  // Gradient bookkeeping as ParamStore's: zero_grads() marks every gradient fresh (the
  // next write overwrites, later ones add: micro-batches accumulate); the buffer itself
  // is zeroed too, for parameters no op reaches.
  void zero_grads();
  bool grad_fresh(int index) const { return fresh_[static_cast<std::size_t>(index)]; }
  void mark_grad_written(int index) { fresh_[static_cast<std::size_t>(index)] = false; }
  // The gradient buffer (and, uploading, each gradient's freshness) from / to the host
  // (checkpoints of an accumulation in progress).
  void upload_grads();
  void download_grads();

 private:
  kernels::CudaContext& context_;
  ParamStore& host_;
  bool keep_half_;
  kernels::DeviceArray<float> values_;
  kernels::DeviceArray<float> grads_;
  kernels::DeviceArray<__nv_bfloat16> half_;
  std::vector<bool> fresh_;
};

}  // namespace shrike::model
