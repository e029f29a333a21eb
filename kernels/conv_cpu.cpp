// kernels/conv_cpu.cpp: ConvCpu through oneDNN (forward_training, backward_data,
// backward_weights). NCHW plans let oneDNN choose the activations' format (`any`);
// NHWC plans pin it to NHWC, which oneDNN's AVX-512/AVX2 kernels run on directly.
// Weights are always `any`. Where the wanted format differs from the caller's plain
// tensor, the tensor is reordered into a buffer shared by every plan of the thread.
// All calls run on one oneDNN stream (OpenMP threads).
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "kernels/conv.h"

namespace shrike::kernels {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Buffers for layouts oneDNN prefers, shared by every convolution of the process:
// convolutions of a thread run one at a time, so one buffer per role (an op's first input, its
// weights, its output) serves them all. They grow during the first step and are
// reused after, instead of each of hundreds of plans holding copies of its tensors.
enum class Slot { kInput, kWeights, kOutput, kScratchpad, kCount };

std::uint8_t* shared_buffer(Slot slot, std::size_t bytes) {
  thread_local std::vector<std::uint8_t> buffers[static_cast<int>(Slot::kCount)];
  std::vector<std::uint8_t>& buffer = buffers[static_cast<int>(slot)];
  if (buffer.size() < bytes) buffer.resize(bytes);
  return buffer.data();
}

// A tensor as the caller holds it (plain layout) and as the primitive wants it; when
// they differ, the primitive works on a shared buffer in its own layout.
struct Operand {
  memory user;
  memory internal;
  Slot slot = Slot::kInput;
  bool needs_reorder = false;

  void init(const memory::desc& user_desc, const memory::desc& wanted, Slot buffer_slot) {
    user = memory(user_desc, cpu_engine(), DNNL_MEMORY_NONE);
    internal = memory(wanted, cpu_engine(), DNNL_MEMORY_NONE);
    needs_reorder = wanted != user_desc;
    slot = buffer_slot;
  }
  void bind_internal() { internal.set_data_handle(shared_buffer(slot, internal.get_desc().get_size())); }
  // The memory to hand the primitive, with `data` (plain layout) copied in if needed.
  memory& in(dnnl::stream& stream, const float* data) {
    user.set_data_handle(const_cast<float*>(data));
    if (!needs_reorder) {
      internal.set_data_handle(const_cast<float*>(data));
      return internal;
    }
    bind_internal();
    dnnl::reorder(user, internal).execute(stream, user, internal);
    return internal;
  }
  // The memory for the primitive to write into; call out_done() after executing.
  memory& out(float* data) {
    user.set_data_handle(data);
    if (needs_reorder) {
      bind_internal();
    } else {
      internal.set_data_handle(data);
    }
    return internal;
  }
  void out_done(dnnl::stream& stream) {
    if (needs_reorder) dnnl::reorder(internal, user).execute(stream, internal, user);
  }
};

memory::dims weight_dims(const ConvGeometry& g) {
  int k = g.kernel;
  if (g.groups == 1) return {g.out_channels, g.input.c, k, k};
  return {g.groups, g.out_channels / g.groups, g.input.c / g.groups, k, k};
}

}  // namespace

struct ConvCpu::Impl {
  ConvGeometry geometry;
  Layout layout;
  dnnl::stream stream{cpu_engine()};
  dnnl::convolution_forward forward;
  dnnl::convolution_backward_data backward_data;
  dnnl::convolution_backward_weights backward_weights;
  Operand fwd_src, fwd_weights, fwd_dst;
  Operand bwd_data_diff_src, bwd_data_weights, bwd_data_diff_dst;
  Operand bwd_w_src, bwd_w_diff_weights, bwd_w_diff_dst;
  memory bias_memory, diff_bias_memory;
  memory scratchpad;
  std::size_t scratchpad_bytes = 0;

  memory& bind_scratchpad() {
    scratchpad.set_data_handle(shared_buffer(Slot::kScratchpad, scratchpad_bytes));
    return scratchpad;
  }

  Impl(const ConvGeometry& g, Layout activation_layout) : geometry(g), layout(activation_layout) {
    const Shape4 in = g.input, out = g.output();
    const tag plain = layout == Layout::kNHWC ? tag::nhwc : tag::nchw;
    const tag wanted = layout == Layout::kNHWC ? tag::nhwc : tag::any;
    memory::desc src_plain({in.n, in.c, in.h, in.w}, dt::f32, plain);
    memory::desc dst_plain({out.n, out.c, out.h, out.w}, dt::f32, plain);
    memory::desc weights_plain(weight_dims(g), dt::f32, g.groups == 1 ? tag::oihw : tag::goihw);
    memory::desc bias_plain({g.out_channels}, dt::f32, tag::x);
    memory::desc src_any({in.n, in.c, in.h, in.w}, dt::f32, wanted);
    memory::desc dst_any({out.n, out.c, out.h, out.w}, dt::f32, wanted);
    memory::desc weights_any(weight_dims(g), dt::f32, tag::any);
    memory::dims strides{g.stride, g.stride}, padding{g.padding, g.padding};
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

    auto fwd_desc = g.bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                                             dnnl::algorithm::convolution_direct, src_any,
                                                             weights_any, bias_plain, dst_any, strides, padding, padding)
                           : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                                             dnnl::algorithm::convolution_direct, src_any,
                                                             weights_any, dst_any, strides, padding, padding);
    dnnl::convolution_forward::primitive_desc fwd_pd(fwd_desc, attr, cpu_engine());
    auto bwd_data_desc = dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, src_any,
                                                               weights_any, dst_any, strides, padding, padding);
    dnnl::convolution_backward_data::primitive_desc bwd_data_pd(bwd_data_desc, attr, cpu_engine(), fwd_pd);
    auto bwd_w_desc = g.bias ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, src_any,
                                                                        weights_any, bias_plain, dst_any, strides,
                                                                        padding, padding)
                             : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, src_any,
                                                                        weights_any, dst_any, strides, padding,
                                                                        padding);
    dnnl::convolution_backward_weights::primitive_desc bwd_w_pd(bwd_w_desc, attr, cpu_engine(), fwd_pd);

    forward = dnnl::convolution_forward(fwd_pd);
    backward_data = dnnl::convolution_backward_data(bwd_data_pd);
    backward_weights = dnnl::convolution_backward_weights(bwd_w_pd);
    fwd_src.init(src_plain, fwd_pd.src_desc(), Slot::kInput);
    fwd_weights.init(weights_plain, fwd_pd.weights_desc(), Slot::kWeights);
    fwd_dst.init(dst_plain, fwd_pd.dst_desc(), Slot::kOutput);
    bwd_data_diff_dst.init(dst_plain, bwd_data_pd.diff_dst_desc(), Slot::kInput);
    bwd_data_weights.init(weights_plain, bwd_data_pd.weights_desc(), Slot::kWeights);
    bwd_data_diff_src.init(src_plain, bwd_data_pd.diff_src_desc(), Slot::kOutput);
    bwd_w_src.init(src_plain, bwd_w_pd.src_desc(), Slot::kInput);
    bwd_w_diff_dst.init(dst_plain, bwd_w_pd.diff_dst_desc(), Slot::kOutput);
    bwd_w_diff_weights.init(weights_plain, bwd_w_pd.diff_weights_desc(), Slot::kWeights);
    bias_memory = memory(bias_plain, cpu_engine(), DNNL_MEMORY_NONE);
    diff_bias_memory = memory(bias_plain, cpu_engine(), DNNL_MEMORY_NONE);
    scratchpad_bytes = std::max({fwd_pd.scratchpad_desc().get_size(), bwd_data_pd.scratchpad_desc().get_size(),
                                 bwd_w_pd.scratchpad_desc().get_size(), std::size_t{64}});
    scratchpad = memory(memory::desc({static_cast<memory::dim>(scratchpad_bytes)}, dt::u8, tag::x), cpu_engine(),
                        DNNL_MEMORY_NONE);
  }
};

ConvCpu::ConvCpu(const ConvGeometry& geometry, Layout layout) {
  if (geometry.input.c % geometry.groups != 0 || geometry.out_channels % geometry.groups != 0) {
    throw std::invalid_argument("conv channels not divisible by groups: " + geometry.str());
  }
  try {
    impl_ = std::make_unique<Impl>(geometry, layout);
  } catch (const dnnl::error& error) {
    throw std::runtime_error(std::string("oneDNN convolution setup failed (") + error.what() + ") for " +
                             geometry.str());
  }
}

ConvCpu::~ConvCpu() = default;
ConvCpu::ConvCpu(ConvCpu&&) noexcept = default;
ConvCpu& ConvCpu::operator=(ConvCpu&&) noexcept = default;

const ConvGeometry& ConvCpu::geometry() const { return impl_->geometry; }
Layout ConvCpu::layout() const { return impl_->layout; }

void ConvCpu::forward(float* y, const float* x, const float* w, const float* b) {
  Impl& m = *impl_;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, m.fwd_src.in(m.stream, x)},
                                       {DNNL_ARG_WEIGHTS, m.fwd_weights.in(m.stream, w)},
                                       {DNNL_ARG_DST, m.fwd_dst.out(y)},
                                       {DNNL_ARG_SCRATCHPAD, m.bind_scratchpad()}};
  if (m.geometry.bias) {
    m.bias_memory.set_data_handle(const_cast<float*>(b));
    args.emplace(DNNL_ARG_BIAS, m.bias_memory);
  }
  m.forward.execute(m.stream, args);
  m.fwd_dst.out_done(m.stream);
  m.stream.wait();
}

void ConvCpu::backward_data(float* dx, const float* dy, const float* w) {
  Impl& m = *impl_;
  m.backward_data.execute(m.stream, {{DNNL_ARG_DIFF_DST, m.bwd_data_diff_dst.in(m.stream, dy)},
                                     {DNNL_ARG_WEIGHTS, m.bwd_data_weights.in(m.stream, w)},
                                     {DNNL_ARG_DIFF_SRC, m.bwd_data_diff_src.out(dx)},
                                     {DNNL_ARG_SCRATCHPAD, m.bind_scratchpad()}});
  m.bwd_data_diff_src.out_done(m.stream);
  m.stream.wait();
}

void ConvCpu::backward_weights(float* dw, float* db, const float* dy, const float* x) {
  Impl& m = *impl_;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, m.bwd_w_src.in(m.stream, x)},
                                       {DNNL_ARG_DIFF_DST, m.bwd_w_diff_dst.in(m.stream, dy)},
                                       {DNNL_ARG_DIFF_WEIGHTS, m.bwd_w_diff_weights.out(dw)},
                                       {DNNL_ARG_SCRATCHPAD, m.bind_scratchpad()}};
  if (m.geometry.bias) {
    m.diff_bias_memory.set_data_handle(db);
    args.emplace(DNNL_ARG_DIFF_BIAS, m.diff_bias_memory);
  }
  m.backward_weights.execute(m.stream, args);
  m.bwd_w_diff_weights.out_done(m.stream);
  m.stream.wait();
}

}  // namespace shrike::kernels
