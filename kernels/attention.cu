// kernels/attention.cu: the attention core on the GPU (attention_cuda.h), the twin of
// attention_cpu.cpp.
//
// Per (batch, head) pair the q, k, v blocks of qkv are (channels x N) row-major with N
// tokens per row, and consecutive pairs are a fixed stride apart (pair = b * heads +
// head: qkv (2kd + hd) * N, out / v_image hd * N, probs N * N). So every product is one
// cuBLAS strided-batched GEMM over all pairs. cuBLAS is column-major: a row-major
// (r x c) matrix with leading dimension c is the column-major (c x r) matrix, its
// transpose; each GEMM below states the row-major product and the column-major call.
// Compute type CUBLAS_COMPUTE_32F throughout: fp32 is true fp32 (no TF32), bf16 inputs
// accumulate in fp32.
//
// probs are fp32. For bf16, the products that take probs (or the softmax gradient dS)
// together with a bf16 operand convert them to a bf16 scratch in the context workspace
// first (cuBLAS needs A and B of one type), as PyTorch's autocast does for `v @ attn^T`.
// Softmax forward and backward are kernels of ours: one block per row, fp32,
// numerically stable (the row maximum is subtracted).
#include <cuda_bf16.h>

#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>

#include "kernels/attention_cuda.h"
#include "kernels/cudnn_check.h"
#include "kernels/elementwise_cuda.h"

namespace shrike::kernels {

namespace {

constexpr int kSoftmaxThreads = 256;  // a multiple of 32: every warp is full

template <typename T>
struct CublasType;
template <>
struct CublasType<float> {
  static constexpr cudaDataType_t value = CUDA_R_32F;
};
template <>
struct CublasType<__nv_bfloat16> {
  static constexpr cudaDataType_t value = CUDA_R_16BF;
};

template <typename T>
__device__ T from_float(float x);
template <>
__device__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16(x);
}

__device__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}
__device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Max or sum of v over the block (blockDim.x a multiple of 32, at most 1024); every
// thread gets the result. `shared` holds 32 floats; it is free again on return.
template <bool kMax>
__device__ float block_reduce(float v, float* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = kMax ? warp_max(v) : warp_sum(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float partial = lane < warps ? shared[lane] : (kMax ? -INFINITY : 0.0f);
    partial = kMax ? warp_max(partial) : warp_sum(partial);
    if (lane == 0) shared[0] = partial;
  }
  __syncthreads();
  const float result = shared[0];
  __syncthreads();
  return result;
}

// rows[r, :] = softmax(rows[r, :]) in place, one block per row of n.
__global__ void softmax_rows_kernel(float* rows, int n) {
  __shared__ float shared[32];
  float* row = rows + static_cast<std::size_t>(blockIdx.x) * n;
  float largest = -INFINITY;
  for (int j = threadIdx.x; j < n; j += blockDim.x) largest = fmaxf(largest, row[j]);
  largest = block_reduce<true>(largest, shared);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const float e = expf(row[j] - largest);
    row[j] = e;
    sum += e;
  }
  sum = block_reduce<false>(sum, shared);
  for (int j = threadIdx.x; j < n; j += blockDim.x) row[j] /= sum;
}

// dS[r, j] = P[r, j] (dP[r, j] - sum_j' P[r, j'] dP[r, j']), one block per row of n.
// dS may be dP (fp32, in place): each element is read and then written by one thread,
// after the row's dot product is complete.
template <typename T>
__global__ void softmax_backward_rows_kernel(T* ds, const float* probs, const float* dp, int n) {
  __shared__ float shared[32];
  const std::size_t base = static_cast<std::size_t>(blockIdx.x) * n;
  float dot = 0.0f;
  for (int j = threadIdx.x; j < n; j += blockDim.x) dot += probs[base + j] * dp[base + j];
  dot = block_reduce<false>(dot, shared);
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const float p = probs[base + j];
    ds[base + j] = from_float<T>(p * (dp[base + j] - dot));
  }
}

// One strided-batched GEMM (column-major, cuBLAS's convention) over the (batch, head)
// pairs, fp32 compute, alpha and beta on the host.
struct BatchedGemm {
  cublasHandle_t handle;
  int batch;

  void operator()(cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k, float alpha, const void* a,
                  cudaDataType_t a_type, long long stride_a, const void* b, cudaDataType_t b_type, long long stride_b,
                  float beta, void* c, cudaDataType_t c_type, long long stride_c, int ld) const {
    // Every operand of the attention products has leading dimension N (= ld).
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(handle, op_a, op_b, m, n, k, &alpha, a, a_type, ld, stride_a, b, b_type,
                                            ld, stride_b, &beta, c, c_type, ld, stride_c, batch, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
  }
};

BatchedGemm batched_gemm(CudaContext& context, const AttentionGeometry& g) {
  CUBLAS_CHECK(cublasSetPointerMode(context.cublas(), CUBLAS_POINTER_MODE_HOST));
  return BatchedGemm{context.cublas(), g.batch * g.heads};
}

std::size_t align_up(std::size_t bytes) { return (bytes + 255) / 256 * 256; }

// The per-pair offsets and strides (in elements) of the attention tensors.
struct Layout {
  long long pair_qkv, pair_out, pair_probs, k_offset, v_offset;
  explicit Layout(const AttentionGeometry& g)
      : pair_qkv(static_cast<long long>(2 * g.key_dim + g.head_dim) * g.tokens()),
        pair_out(static_cast<long long>(g.head_dim) * g.tokens()),
        pair_probs(static_cast<long long>(g.tokens()) * g.tokens()),
        k_offset(static_cast<long long>(g.key_dim) * g.tokens()),
        v_offset(2LL * g.key_dim * g.tokens()) {}
};

// Copies the v block of every pair between qkv-shaped (pitch pair_qkv) and
// out-shaped (pitch pair_out) memory: v_image = v, or dv = dv_image.
template <typename T>
void copy_v_blocks(T* dst, long long dst_pitch, const T* src, long long src_pitch, const Layout& l, int pairs,
                   cudaStream_t stream) {
  CUDA_CHECK(cudaMemcpy2DAsync(dst, static_cast<std::size_t>(dst_pitch) * sizeof(T), src,
                               static_cast<std::size_t>(src_pitch) * sizeof(T),
                               static_cast<std::size_t>(l.pair_out) * sizeof(T), static_cast<std::size_t>(pairs),
                               cudaMemcpyDeviceToDevice, stream));
}

void check_geometry(const AttentionGeometry& g, const char* what) {
  if (g.batch < 1 || g.heads < 1 || g.key_dim < 1 || g.head_dim < 1 || g.h < 1 || g.w < 1) {
    throw CudaError(std::string(what) + ": bad geometry batch " + std::to_string(g.batch) + " heads " +
                        std::to_string(g.heads) + " key_dim " + std::to_string(g.key_dim) + " head_dim " +
                        std::to_string(g.head_dim) + " " + std::to_string(g.h) + "x" + std::to_string(g.w),
                    false);
  }
}

}  // namespace

template <typename T>
void attention_forward_cuda(CudaContext& context, T* out, T* v_image, float* probs, const T* qkv,
                            const AttentionGeometry& g) {
  check_geometry(g, "attention_forward_cuda");
  const Layout l(g);
  const int n = g.tokens(), pairs = g.batch * g.heads;
  const cudaDataType_t t_type = CublasType<T>::value;
  const BatchedGemm gemm = batched_gemm(context, g);
  const T* q = qkv;
  const T* k = qkv + l.k_offset;
  const T* v = qkv + l.v_offset;

  // Row-major S (N x N) = scale Q^T K, i.e. column-major S^T = K^T Q:
  // C (N x N) = A (N x kd, = K^T) * B^T (B = Q^T, N x kd).
  gemm(CUBLAS_OP_N, CUBLAS_OP_T, n, n, g.key_dim, g.scale, k, t_type, l.pair_qkv, q, t_type, l.pair_qkv, 0.0f, probs,
       CUDA_R_32F, l.pair_probs, n);
  softmax_rows_kernel<<<static_cast<unsigned>(pairs) * static_cast<unsigned>(n), kSoftmaxThreads, 0,
                        context.stream()>>>(probs, n);
  CUDA_CHECK_LAUNCH("softmax_rows_kernel");

  // Row-major O (hd x N) = V P^T, i.e. column-major O^T (N x hd) = P V^T:
  // C (N x hd) = A^T (A = P^T, N x N) * B (B = V^T, N x hd).
  const void* p_operand = probs;
  cudaDataType_t p_type = CUDA_R_32F;
  if constexpr (!std::is_same_v<T, float>) {
    const std::size_t count = static_cast<std::size_t>(pairs) * static_cast<std::size_t>(l.pair_probs);
    auto* p_low = static_cast<T*>(context.workspace(count * sizeof(T)));
    cast_cuda<float, T>(p_low, probs, count, context.stream());
    p_operand = p_low;
    p_type = t_type;
  }
  gemm(CUBLAS_OP_T, CUBLAS_OP_N, n, g.head_dim, n, 1.0f, p_operand, p_type, l.pair_probs, v, t_type, l.pair_qkv, 0.0f,
       out, t_type, l.pair_out, n);

  copy_v_blocks(v_image, l.pair_out, v, l.pair_qkv, l, pairs, context.stream());
}

template <typename T>
void attention_backward_cuda(CudaContext& context, T* dqkv, const T* dout, const T* dv_image, const T* qkv,
                             const float* probs, const AttentionGeometry& g) {
  check_geometry(g, "attention_backward_cuda");
  const Layout l(g);
  const int n = g.tokens(), pairs = g.batch * g.heads;
  const cudaDataType_t t_type = CublasType<T>::value;
  constexpr bool low_precision = !std::is_same_v<T, float>;
  const BatchedGemm gemm = batched_gemm(context, g);
  const T* q = qkv;
  const T* k = qkv + l.k_offset;
  const T* v = qkv + l.v_offset;
  T* dq = dqkv;
  T* dk = dqkv + l.k_offset;
  T* dv = dqkv + l.v_offset;

  // Scratch: dP (fp32); for bf16 also dS and P in bf16 (fp32 computes dS in place).
  const std::size_t count = static_cast<std::size_t>(pairs) * static_cast<std::size_t>(l.pair_probs);
  const std::size_t dp_bytes = align_up(count * sizeof(float));
  const std::size_t low_bytes = low_precision ? align_up(count * sizeof(T)) : 0;
  auto* scratch = static_cast<unsigned char*>(context.workspace(dp_bytes + 2 * low_bytes));
  auto* dp = reinterpret_cast<float*>(scratch);
  T* ds = low_precision ? reinterpret_cast<T*>(scratch + dp_bytes) : reinterpret_cast<T*>(dp);

  // dV = dv_image + dO P: row-major dV (hd x N) = dO P + dV_image, i.e. column-major
  // dV^T (N x hd) = P^T dO^T: C = A (A = P^T, N x N) * B (B = dO^T, N x hd), beta 1.
  copy_v_blocks(dv, l.pair_qkv, dv_image, l.pair_out, l, pairs, context.stream());
  const void* p_operand = probs;
  cudaDataType_t p_type = CUDA_R_32F;
  if constexpr (low_precision) {
    auto* p_low = reinterpret_cast<T*>(scratch + dp_bytes + low_bytes);
    cast_cuda<float, T>(p_low, probs, count, context.stream());
    p_operand = p_low;
    p_type = t_type;
  }
  gemm(CUBLAS_OP_N, CUBLAS_OP_N, n, g.head_dim, n, 1.0f, p_operand, p_type, l.pair_probs, dout, t_type, l.pair_out,
       1.0f, dv, t_type, l.pair_qkv, n);

  // Row-major dP (N x N) = dO^T V, i.e. column-major dP^T = V^T dO:
  // C (N x N) = A (A = V^T, N x hd) * B^T (B = dO^T, N x hd).
  gemm(CUBLAS_OP_N, CUBLAS_OP_T, n, n, g.head_dim, 1.0f, v, t_type, l.pair_qkv, dout, t_type, l.pair_out, 0.0f, dp,
       CUDA_R_32F, l.pair_probs, n);
  softmax_backward_rows_kernel<T><<<static_cast<unsigned>(pairs) * static_cast<unsigned>(n), kSoftmaxThreads, 0,
                                    context.stream()>>>(ds, probs, dp, n);
  CUDA_CHECK_LAUNCH("softmax_backward_rows_kernel");

  // Row-major dQ (kd x N) = scale K dS^T, i.e. column-major dQ^T (N x kd) = scale dS K^T:
  // C = A^T (A = dS^T, N x N) * B (B = K^T, N x kd).
  gemm(CUBLAS_OP_T, CUBLAS_OP_N, n, g.key_dim, n, g.scale, ds, t_type, l.pair_probs, k, t_type, l.pair_qkv, 0.0f, dq,
       t_type, l.pair_qkv, n);
  // Row-major dK (kd x N) = scale Q dS, i.e. column-major dK^T (N x kd) = scale dS^T Q^T:
  // C = A (A = dS^T, N x N) * B (B = Q^T, N x kd).
  gemm(CUBLAS_OP_N, CUBLAS_OP_N, n, g.key_dim, n, g.scale, ds, t_type, l.pair_probs, q, t_type, l.pair_qkv, 0.0f, dk,
       t_type, l.pair_qkv, n);
}

template void attention_forward_cuda<float>(CudaContext&, float*, float*, float*, const float*,
                                            const AttentionGeometry&);
template void attention_forward_cuda<__nv_bfloat16>(CudaContext&, __nv_bfloat16*, __nv_bfloat16*, float*,
                                                    const __nv_bfloat16*, const AttentionGeometry&);
template void attention_backward_cuda<float>(CudaContext&, float*, const float*, const float*, const float*,
                                             const float*, const AttentionGeometry&);
template void attention_backward_cuda<__nv_bfloat16>(CudaContext&, __nv_bfloat16*, const __nv_bfloat16*,
                                                     const __nv_bfloat16*, const __nv_bfloat16*, const float*,
                                                     const AttentionGeometry&);

}  // namespace shrike::kernels
