// tests/gpu/test_gpu_conv.cpp: ConvCudnn (cuDNN) against the double-precision
// reference convolution (conv_reference.cpp) on fresh random inputs: forward (with and
// without bias), backward data (written, and accumulated onto a random dx), backward
// weights and the bias gradient, over 1x1, 3x3 stride 1 and 2, 5x5, grouped (2 groups)
// and depthwise geometries, odd spatial sizes, batch 1, 2 and 3, a 3-channel stem and
// one larger layer; fp32 and bf16. Then a second plan of an already measured geometry
// must reuse the process-wide algorithm cache (same describe(), measured times
// included, which a new measurement would not reproduce).
//
// Tolerances: |got - expected| <= tol * max |expected| of the tensor compared.
//   fp32: tol 2e-5 (true fp32: the plan forbids TF32, which would be off by ~1e-3).
//   bf16: tol 2e-2; inputs are rounded to bf16 first, so the reference sees exactly the
//         values the GPU sees; the error is fp32 accumulation plus bf16 rounding of the
//         stored outputs (db is fp32).
// Without a usable CUDA device it prints why and exits 77 (ctest: skipped).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "kernels/conv_cudnn.h"
#include "kernels/cuda_context.h"
#include "tests/gpu/gpu_test_support.h"

namespace {

using namespace shrike::kernels;
using namespace shrike::gpu_test;

struct Case {
  const char* name;
  ConvGeometry geometry;
};

ConvGeometry make_geometry(Shape4 input, int out_channels, int kernel, int stride, int padding, int groups,
                           bool bias) {
  ConvGeometry g;
  g.input = input;
  g.out_channels = out_channels;
  g.kernel = kernel;
  g.stride = stride;
  g.padding = padding;
  g.groups = groups;
  g.bias = bias;
  return g;
}

std::vector<Case> cases() {
  return {
      {"1x1", make_geometry({1, 8, 5, 5}, 16, 1, 1, 0, 1, true)},
      {"1x1 batch3 13x7", make_geometry({3, 7, 13, 7}, 5, 1, 1, 0, 1, false)},
      {"3x3 s1 13x7", make_geometry({3, 8, 13, 7}, 12, 3, 1, 1, 1, false)},
      {"3x3 s1 bias", make_geometry({1, 6, 9, 11}, 10, 3, 1, 1, 1, true)},
      {"3x3 s2 13x7 bias", make_geometry({3, 6, 13, 7}, 8, 3, 2, 1, 1, true)},
      {"3x3 s2 stem", make_geometry({1, 3, 33, 65}, 16, 3, 2, 1, 1, true)},
      {"3x3 groups2", make_geometry({1, 8, 9, 11}, 12, 3, 1, 1, 2, true)},
      {"3x3 s2 groups2 batch3", make_geometry({3, 8, 13, 7}, 4, 3, 2, 1, 2, false)},
      {"depthwise 3x3 s2", make_geometry({3, 16, 13, 7}, 16, 3, 2, 1, 16, true)},
      {"depthwise 3x3 s1", make_geometry({1, 12, 7, 13}, 12, 3, 1, 1, 12, false)},
      {"depthwise 5x5", make_geometry({3, 16, 7, 7}, 16, 5, 1, 2, 16, false)},
      {"3x3 no padding", make_geometry({2, 4, 7, 9}, 6, 3, 1, 0, 1, true)},
      {"larger 3x3", make_geometry({2, 32, 40, 40}, 64, 3, 1, 1, 1, true)},
  };
}

// Inputs as the dtype sees them: rounded to bf16 for bf16 plans.
std::vector<float> random_input(std::mt19937_64& rng, std::size_t n, DType dtype) {
  std::vector<float> values = random_floats(rng, n);
  return dtype == DType::kBF16 ? round_to_bf16(std::move(values)) : values;
}

// A device buffer of the plan's dtype holding `values`, and its contents back as float.
struct TypedBuffer {
  DType dtype;
  DeviceArray<float> f32;
  DeviceArray<__nv_bfloat16> b16;

  TypedBuffer(DType type, const std::vector<float>& values) : dtype(type) {
    if (dtype == DType::kF32) {
      f32 = to_device(values);
    } else {
      b16 = to_device(to_bf16(values));
    }
  }
  void* data() { return dtype == DType::kF32 ? static_cast<void*>(f32.data()) : static_cast<void*>(b16.data()); }
  std::vector<float> host() const { return dtype == DType::kF32 ? to_host(f32) : from_bf16(to_host(b16)); }
};

void run_case(Report& report, CudaContext& context, std::mt19937_64& rng, const Case& c, DType dtype) {
  const ConvGeometry& g = c.geometry;
  const Shape4 out = g.output();
  const double tol = dtype == DType::kF32 ? 2e-5 : 2e-2;
  const std::string prefix = std::string(dtype_name(dtype)) + " " + c.name + " ";

  const std::vector<float> x = random_input(rng, g.input.numel(), dtype);
  const std::vector<float> w = random_input(rng, g.weight_numel(), dtype);
  const std::vector<float> bias = random_floats(rng, static_cast<std::size_t>(g.out_channels));
  const std::vector<float> dy = random_input(rng, out.numel(), dtype);
  const std::vector<float> dx_before = random_input(rng, g.input.numel(), dtype);

  // Reference, in double.
  std::vector<double> y_ref(out.numel()), dx_ref(g.input.numel()), dw_ref(g.weight_numel());
  std::vector<double> db_ref(static_cast<std::size_t>(g.out_channels));
  const std::vector<double> bias_d = to_double(bias);
  conv2d_reference_forward(y_ref.data(), to_double(x).data(), to_double(w).data(), bias_d.data(), g);
  conv2d_reference_backward(dx_ref.data(), dw_ref.data(), db_ref.data(), to_double(dy).data(), to_double(x).data(),
                            to_double(w).data(), g);
  std::vector<double> dx_accumulated_ref(dx_ref);
  for (std::size_t i = 0; i < dx_accumulated_ref.size(); ++i) dx_accumulated_ref[i] += dx_before[i];

  // GPU.
  ConvCudnn plan(context, g, dtype);
  TypedBuffer d_x(dtype, x), d_w(dtype, w), d_dy(dtype, dy);
  TypedBuffer d_y(dtype, std::vector<float>(out.numel(), 0.0f));
  TypedBuffer d_dx(dtype, std::vector<float>(g.input.numel(), 0.0f));
  TypedBuffer d_dx_acc(dtype, dx_before);
  TypedBuffer d_dw(dtype, std::vector<float>(g.weight_numel(), 0.0f));
  DeviceArray<float> d_bias = to_device(bias);
  DeviceArray<float> d_db = to_device(std::vector<float>(static_cast<std::size_t>(g.out_channels), 0.0f));

  plan.forward(d_y.data(), d_x.data(), d_w.data(), g.bias ? d_bias.data() : nullptr);
  plan.backward_data(d_dx.data(), d_dy.data(), d_w.data());
  plan.backward_data(d_dx_acc.data(), d_dy.data(), d_w.data(), /*accumulate=*/true);
  plan.backward_weights(d_dw.data(), g.bias ? d_db.data() : nullptr, d_dy.data(), d_x.data());
  context.synchronize();

  compare_scaled(report, prefix + "forward", d_y.host(), to_float(y_ref), tol);
  compare_scaled(report, prefix + "backward data", d_dx.host(), to_float(dx_ref), tol);
  compare_scaled(report, prefix + "backward data accumulate", d_dx_acc.host(), to_float(dx_accumulated_ref), tol);
  compare_scaled(report, prefix + "backward weights", d_dw.host(), to_float(dw_ref), tol);
  if (g.bias) compare_scaled(report, prefix + "bias grad", to_host(d_db), to_float(db_ref), tol);
  std::printf("  %s: %s\n", g.str().c_str(), plan.describe().c_str());
}

// A second plan of a measured geometry takes the cached algorithms: describe() equal
// from construction on (before any call) and after running every pass.
void check_cache_reuse(Report& report, CudaContext& context, std::mt19937_64& rng, const ConvGeometry& g,
                       DType dtype) {
  const std::string name = std::string(dtype_name(dtype)) + " second plan reuses the measured algorithms";
  ConvCudnn first(context, g, dtype);
  ConvCudnn second(context, g, dtype);
  TypedBuffer x(dtype, random_input(rng, g.input.numel(), dtype));
  TypedBuffer w(dtype, random_input(rng, g.weight_numel(), dtype));
  TypedBuffer y(dtype, std::vector<float>(g.output().numel(), 0.0f));
  TypedBuffer dx(dtype, std::vector<float>(g.input.numel(), 0.0f));
  TypedBuffer dw(dtype, std::vector<float>(g.weight_numel(), 0.0f));
  second.forward(y.data(), x.data(), w.data(), nullptr);
  second.backward_data(dx.data(), y.data(), w.data());
  second.backward_weights(dw.data(), nullptr, y.data(), x.data());
  context.synchronize();
  const bool measured = first.describe().find("not measured") == std::string::npos;
  report.check(name, measured && first.describe() == second.describe(),
               "first: " + first.describe() + " | second: " + second.describe());
}

}  // namespace

int main() {
  if (!have_device()) return 77;
  try {
    std::mt19937_64 rng = seeded_rng();
    CudaContext context(0);
    Report report;
    const std::vector<Case> all = cases();
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      for (const Case& c : all) run_case(report, context, rng, c, dtype);
      check_cache_reuse(report, context, rng, all[2].geometry, dtype);
    }
    // A bad geometry is refused with a message, not run.
    try {
      ConvCudnn bad(context, make_geometry({1, 6, 5, 5}, 4, 3, 1, 1, 4, false), DType::kF32);
      report.check("channels not divisible by groups are refused", false, "no error");
    } catch (const CudaError& error) {
      report.check("channels not divisible by groups are refused", true, error.what());
    }
    return report.finish();
  } catch (const std::exception& error) {
    std::printf("FAILED: %s\n", error.what());
    return 1;
  }
}
