// pipeline/model/cuda_params.cpp: device float state, gradients and the bf16 copy.
#include "pipeline/model/cuda_params.h"

#include "kernels/elementwise_cuda.h"
#include "pipeline/core/error.h"

namespace shrike::model {

CudaParams::CudaParams(kernels::CudaContext& context, ParamStore& host, bool keep_half)
    : context_(context), host_(host), keep_half_(keep_half) {
  if (!host.finalized()) fail_internal("CudaParams before the parameter store was laid out");
  values_.resize(host.float_state().size());
  grads_.resize(host.trainable_numel());
  if (keep_half_) half_.resize(host.float_state().size());
  fresh_.assign(host.entries().size(), true);
  upload();
  zero_grads();
}

void CudaParams::upload() {
  values_.upload(host_.float_state().data(), values_.size(), context_.stream());
  refresh_half();
  context_.synchronize();  // the host buffer may change right after
}

void CudaParams::download() {
  values_.download(host_.float_state().data(), values_.size(), context_.stream());
  context_.synchronize();
}

void CudaParams::refresh_half() {
  if (keep_half_) kernels::cast_cuda<float, __nv_bfloat16>(half_.data(), values_.data(), values_.size(), context_.stream());
}

void CudaParams::zero_grads() {
  grads_.zero(context_.stream());
  std::fill(fresh_.begin(), fresh_.end(), true);
}

void CudaParams::upload_grads() {
  grads_.upload(host_.grads().data(), grads_.size(), context_.stream());
  for (std::size_t i = 0; i < fresh_.size(); ++i) fresh_[i] = host_.grad_fresh(static_cast<int>(i));
  context_.synchronize();
}

void CudaParams::download_grads() {
  grads_.download(host_.grads().data(), grads_.size(), context_.stream());
  context_.synchronize();
}

}  // namespace shrike::model
