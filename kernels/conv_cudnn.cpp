// kernels/conv_cudnn.cpp: ConvCudnn (conv_cudnn.h), cuDNN 9's legacy convolution API.
//
// One plan = the x, y, w and convolution descriptors of one geometry and dtype. The
// algorithm of each pass (forward, backward data, backward filter) is chosen by
// measurement (cudnnFind*AlgorithmEx) on the pass's first call, with the plan's real
// buffers, and kept in a process-wide cache keyed by (device, dtype, geometry), so
// every later plan of the same shape reuses it without measuring. Choice: the fastest
// algorithm whose status is success and whose workspace fits the search cap (256 MiB of
// the context's shared workspace); fp32 also excludes tensor-op math, so fp32 is true
// fp32 (CUDNN_FMA_MATH: no TF32). Whether the chosen algorithm is deterministic is
// recorded and shown by describe(), not used to choose.
//
// The search overwrites the pass's output buffer, which the pass then writes anyway,
// except backward_data with `accumulate`: there it searches into a temporary dx.
#include "kernels/conv_cudnn.h"

#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cudnn_check.h"
#include "kernels/device_array.h"
#include "kernels/elementwise_cuda.h"

namespace shrike::kernels {

namespace {

// The most workspace an algorithm may ask for; the search measures with this much.
constexpr std::size_t kSearchWorkspaceCap = std::size_t{256} << 20;

enum class Pass { kForward, kBackwardData, kBackwardFilter };

// One pass's chosen algorithm, as measured.
struct AlgoChoice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  std::size_t workspace = 0;
  float time_ms = 0;
  bool deterministic = true;
};

struct CachedAlgos {
  std::optional<AlgoChoice> pass[3];
};

// (device, dtype, N, C_in, H, W, C_out, kernel, stride, padding, groups)
using PlanKey = std::tuple<int, int, int, int, int, int, int, int, int, int, int>;

std::mutex& cache_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::map<PlanKey, CachedAlgos>& algo_cache() {
  static std::map<PlanKey, CachedAlgos> cache;
  return cache;
}

const char* algo_name(Pass pass, int algo) {
  static const char* const forward[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                                        "FFT",           "FFT_TILING",            "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* const backward_data[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD",
                                              "WINOGRAD_NONFUSED"};
  static const char* const backward_filter[] = {"ALGO_0",   "ALGO_1",           "FFT",       "ALGO_3",
                                                "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};
  switch (pass) {
    case Pass::kForward:
      if (algo >= 0 && algo < 8) return forward[algo];
      break;
    case Pass::kBackwardData:
      if (algo >= 0 && algo < 6) return backward_data[algo];
      break;
    case Pass::kBackwardFilter:
      if (algo >= 0 && algo < 7) return backward_filter[algo];
      break;
  }
  return "UNKNOWN";
}

const char* pass_name(Pass pass) {
  switch (pass) {
    case Pass::kForward:
      return "fwd";
    case Pass::kBackwardData:
      return "bwd_data";
    case Pass::kBackwardFilter:
      return "bwd_filter";
  }
  return "?";
}

std::string format_bytes(std::size_t bytes) {
  char text[32];
  if (bytes < (std::size_t{1} << 10)) return std::to_string(bytes) + " B";
  if (bytes < (std::size_t{1} << 20)) {
    std::snprintf(text, sizeof text, "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  } else {
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  }
  return text;
}

// The fastest usable result of a Find*Ex call (any of the three perf struct types).
// fp32 plans reject tensor-op math (TF32), which the FMA descriptor should not offer.
template <typename Perf>
std::optional<AlgoChoice> fastest_usable(const Perf* results, int count, bool fp32) {
  std::optional<AlgoChoice> best;
  for (int i = 0; i < count; ++i) {
    const Perf& r = results[i];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > kSearchWorkspaceCap || r.time < 0) continue;
    if (fp32 && (r.mathType == CUDNN_TENSOR_OP_MATH || r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)) continue;
    if (best && r.time >= best->time_ms) continue;
    best = AlgoChoice{static_cast<int>(r.algo), fp32 ? CUDNN_FMA_MATH : r.mathType, r.memory, r.time,
                      r.determinism == CUDNN_DETERMINISTIC};
  }
  return best;
}

}  // namespace

struct ConvCudnn::Impl {
  CudaContext* context = nullptr;
  ConvGeometry geometry;
  DType dtype = DType::kF32;
  cudnnTensorDescriptor_t x_desc = nullptr, y_desc = nullptr;
  cudnnFilterDescriptor_t w_desc = nullptr;
  cudnnConvolutionDescriptor_t conv_desc = nullptr;
  cudnnMathType_t desc_math = CUDNN_DEFAULT_MATH;  // what conv_desc is set to now
  std::optional<AlgoChoice> chosen[3];             // this plan's copy of the cache entry

  Impl(CudaContext& ctx, const ConvGeometry& g, DType type) : context(&ctx), geometry(g), dtype(type) {
    try {
      make_descriptors();
    } catch (...) {
      destroy_descriptors();
      throw;
    }
  }
  ~Impl() { destroy_descriptors(); }

  bool fp32() const { return dtype == DType::kF32; }
  cudnnDataType_t data_type() const { return fp32() ? CUDNN_DATA_FLOAT : CUDNN_DATA_BFLOAT16; }
  PlanKey key() const {
    const ConvGeometry& g = geometry;
    return {context->device(), static_cast<int>(dtype), g.input.n, g.input.c, g.input.h, g.input.w,
            g.out_channels,    g.kernel,                g.stride,  g.padding, g.groups};
  }

  void make_descriptors() {
    const ConvGeometry& g = geometry;
    if (g.groups < 1 || g.input.c % g.groups != 0 || g.out_channels % g.groups != 0) {
      throw CudaError("ConvCudnn: channels " + std::to_string(g.input.c) + " -> " + std::to_string(g.out_channels) +
                          " are not divisible by groups " + std::to_string(g.groups),
                      false);
    }
    const Shape4 out = g.output();
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_desc));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_desc));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_desc));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_desc));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_desc, CUDNN_TENSOR_NCHW, data_type(), g.input.n, g.input.c, g.input.h,
                                           g.input.w));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_desc, CUDNN_TENSOR_NCHW, data_type(), out.n, out.c, out.h, out.w));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_desc, data_type(), CUDNN_TENSOR_NCHW, g.out_channels,
                                           g.input.c / g.groups, g.kernel, g.kernel));
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_desc, g.padding, g.padding, g.stride, g.stride, 1, 1,
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv_desc, g.groups));
    desc_math = fp32() ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv_desc, desc_math));
    int n = 0, c = 0, h = 0, w = 0;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv_desc, x_desc, w_desc, &n, &c, &h, &w));
    if (Shape4{n, c, h, w} != out) {
      throw CudaError("ConvCudnn: cuDNN's output " + Shape4{n, c, h, w}.str() + " differs from the geometry's " +
                          out.str() + " for " + g.str(),
                      false);
    }
  }

  void destroy_descriptors() {
    // Never throws (destructor path); a failure here would only leak a descriptor.
    if (conv_desc != nullptr) cudnnDestroyConvolutionDescriptor(conv_desc);
    if (w_desc != nullptr) cudnnDestroyFilterDescriptor(w_desc);
    if (y_desc != nullptr) cudnnDestroyTensorDescriptor(y_desc);
    if (x_desc != nullptr) cudnnDestroyTensorDescriptor(x_desc);
    conv_desc = nullptr;
    w_desc = nullptr;
    x_desc = y_desc = nullptr;
  }

  void set_math(cudnnMathType_t math) {
    if (math == desc_math) return;
    CUDNN_CHECK(cudnnSetConvolutionMathType(conv_desc, math));
    desc_math = math;
  }

  // Search math: FMA for fp32 (no TF32), tensor ops allowed for bf16 (Find also tries
  // the non-tensor-op variants and reports which one each result used).
  void set_search_math() { set_math(fp32() ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH); }

  // The algorithm of `pass`: this plan's copy, else the process cache, else measured
  // now by `search` (under the cache lock, so one shape is measured once per process).
  template <typename Search>
  const AlgoChoice& algorithm(Pass pass, Search search) {
    const int index = static_cast<int>(pass);
    if (chosen[index]) return *chosen[index];
    std::lock_guard<std::mutex> lock(cache_mutex());
    CachedAlgos& entry = algo_cache()[key()];
    if (!entry.pass[index]) {
      set_search_math();
      std::optional<AlgoChoice> best = search();
      if (!best) {
        throw CudaError(std::string("ConvCudnn: no cuDNN ") + pass_name(pass) + " algorithm succeeded within " +
                            format_bytes(kSearchWorkspaceCap) + " of workspace for " + geometry.str() + " " +
                            dtype_name(dtype),
                        false);
      }
      entry.pass[index] = best;
    }
    chosen[index] = entry.pass[index];
    return *chosen[index];
  }

  void* workspace(const AlgoChoice& choice) {
    return choice.workspace > 0 ? context->workspace(choice.workspace) : nullptr;
  }

  std::optional<AlgoChoice> search_forward(void* y, const void* x, const void* w) {
    int max_count = 0;
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(context->cudnn(), &max_count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> results(static_cast<std::size_t>(max_count));
    int count = 0;
    void* ws = context->workspace(kSearchWorkspaceCap);
    CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(context->cudnn(), x_desc, x, w_desc, w, conv_desc, y_desc, y,
                                                       max_count, &count, results.data(), ws, kSearchWorkspaceCap));
    return fastest_usable(results.data(), count, fp32());
  }

  std::optional<AlgoChoice> search_backward_data(void* dx, const void* dy, const void* w) {
    int max_count = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(context->cudnn(), &max_count));
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> results(static_cast<std::size_t>(max_count));
    int count = 0;
    void* ws = context->workspace(kSearchWorkspaceCap);
    CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(context->cudnn(), w_desc, w, y_desc, dy, conv_desc,
                                                            x_desc, dx, max_count, &count, results.data(), ws,
                                                            kSearchWorkspaceCap));
    return fastest_usable(results.data(), count, fp32());
  }

  std::optional<AlgoChoice> search_backward_filter(void* dw, const void* dy, const void* x) {
    int max_count = 0;
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(context->cudnn(), &max_count));
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> results(static_cast<std::size_t>(max_count));
    int count = 0;
    void* ws = context->workspace(kSearchWorkspaceCap);
    CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(context->cudnn(), x_desc, x, y_desc, dy, conv_desc,
                                                              w_desc, dw, max_count, &count, results.data(), ws,
                                                              kSearchWorkspaceCap));
    return fastest_usable(results.data(), count, fp32());
  }

  void add_bias(void* y, const float* bias) {
    const Shape4 out = geometry.output();
    if (fp32()) {
      add_channel_bias_cuda(static_cast<float*>(y), bias, out, context->stream());
    } else {
      add_channel_bias_cuda(static_cast<bf16*>(y), bias, out, context->stream());
    }
  }

  void bias_grad(float* db, const void* dy) {
    const Shape4 out = geometry.output();
    if (fp32()) {
      channel_bias_grad_cuda(db, static_cast<const float*>(dy), out, context->stream());
    } else {
      channel_bias_grad_cuda(db, static_cast<const bf16*>(dy), out, context->stream());
    }
  }
};

ConvCudnn::ConvCudnn(CudaContext& context, const ConvGeometry& geometry, DType dtype)
    : impl_(std::make_unique<Impl>(context, geometry, dtype)) {
  // A shape measured by an earlier plan is known from the start (describe() shows it).
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto found = algo_cache().find(impl_->key());
  if (found != algo_cache().end()) {
    for (int i = 0; i < 3; ++i) impl_->chosen[i] = found->second.pass[i];
  }
}

ConvCudnn::~ConvCudnn() = default;
ConvCudnn::ConvCudnn(ConvCudnn&&) noexcept = default;
ConvCudnn& ConvCudnn::operator=(ConvCudnn&&) noexcept = default;

const ConvGeometry& ConvCudnn::geometry() const { return impl_->geometry; }
DType ConvCudnn::dtype() const { return impl_->dtype; }

void ConvCudnn::forward(void* y, const void* x, const void* w, const float* bias) {
  Impl& p = *impl_;
  const AlgoChoice& choice = p.algorithm(Pass::kForward, [&] { return p.search_forward(y, x, w); });
  p.set_math(choice.math);
  void* ws = p.workspace(choice);
  const float alpha = 1.0f, beta = 0.0f;
  CUDNN_CHECK(cudnnConvolutionForward(p.context->cudnn(), &alpha, p.x_desc, x, p.w_desc, w, p.conv_desc,
                                      static_cast<cudnnConvolutionFwdAlgo_t>(choice.algo), ws, choice.workspace,
                                      &beta, p.y_desc, y));
  if (bias != nullptr) p.add_bias(y, bias);
}

void ConvCudnn::backward_data(void* dx, const void* dy, const void* w, bool accumulate) {
  Impl& p = *impl_;
  const AlgoChoice& choice = p.algorithm(Pass::kBackwardData, [&] {
    if (!accumulate) return p.search_backward_data(dx, dy, w);
    // The search writes its output: keep dx (which is added to) out of it.
    DeviceArray<unsigned char> scratch(p.geometry.input.numel() * dtype_size(p.dtype));
    return p.search_backward_data(scratch.data(), dy, w);
  });
  p.set_math(choice.math);
  void* ws = p.workspace(choice);
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(p.context->cudnn(), &alpha, p.w_desc, w, p.y_desc, dy, p.conv_desc,
                                           static_cast<cudnnConvolutionBwdDataAlgo_t>(choice.algo), ws,
                                           choice.workspace, &beta, p.x_desc, dx));
}

void ConvCudnn::backward_weights(void* dw, float* db, const void* dy, const void* x) {
  Impl& p = *impl_;
  const AlgoChoice& choice = p.algorithm(Pass::kBackwardFilter, [&] { return p.search_backward_filter(dw, dy, x); });
  p.set_math(choice.math);
  void* ws = p.workspace(choice);
  const float alpha = 1.0f, beta = 0.0f;
  CUDNN_CHECK(cudnnConvolutionBackwardFilter(p.context->cudnn(), &alpha, p.x_desc, x, p.y_desc, dy, p.conv_desc,
                                             static_cast<cudnnConvolutionBwdFilterAlgo_t>(choice.algo), ws,
                                             choice.workspace, &beta, p.w_desc, dw));
  if (db != nullptr) p.bias_grad(db, dy);
}

std::string ConvCudnn::describe() const {
  std::string text;
  for (int i = 0; i < 3; ++i) {
    const Pass pass = static_cast<Pass>(i);
    if (!text.empty()) text += ", ";
    text += pass_name(pass);
    const std::optional<AlgoChoice>& choice = impl_->chosen[i];
    if (!choice) {
      text += " (not measured yet)";
      continue;
    }
    char time[32];
    std::snprintf(time, sizeof time, "%.4f ms", static_cast<double>(choice->time_ms));
    text += std::string(" ") + algo_name(pass, choice->algo) + " " + format_bytes(choice->workspace) + " " + time +
            (choice->math == CUDNN_TENSOR_OP_MATH ? " tensor-op" : "") +
            (choice->deterministic ? "" : " nondeterministic");
  }
  return text;
}

}  // namespace shrike::kernels
