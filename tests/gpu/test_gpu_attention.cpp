// tests/gpu/test_gpu_attention.cpp: the CUDA attention core (attention_cuda.h) against
// the CPU one (attention_cpu.cpp, run in double) on fresh random inputs: forward (out,
// v_image, probs) and backward (the q, k and v parts of dqkv compared separately, so
// a small dq is not hidden behind a large dv), over several (batch, heads, key_dim,
// head_dim, H x W) including one token, odd token counts (5x5, 7x3, 13x1) and YOLO11's
// P5 C2PSA shape (20x20 tokens, key_dim 32, head_dim 64); fp32 and bf16. The backward
// gets the reference probs, so it is tested on its own.
//
// Tolerances: |got - expected| <= tol * max |expected| of the tensor compared.
//   fp32: tol 1e-5 (true fp32 GEMMs, CUBLAS_COMPUTE_32F).
//   bf16: tol 2e-2 for the bf16 tensors (inputs rounded to bf16 first; fp32
//         accumulation; probs and dS rounded to bf16 for the products with v, k and q);
//         probs (fp32, from bf16 q and k with fp32 accumulation) tol 1e-4.
// Without a usable CUDA device it prints why and exits 77 (ctest: skipped).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/attention.h"
#include "kernels/attention_cuda.h"
#include "kernels/cuda_context.h"
#include "tests/gpu/gpu_test_support.h"

namespace {

using namespace shrike::kernels;
using namespace shrike::gpu_test;

AttentionGeometry make_geometry(int batch, int heads, int key_dim, int head_dim, int h, int w) {
  AttentionGeometry g;
  g.batch = batch;
  g.heads = heads;
  g.key_dim = key_dim;
  g.head_dim = head_dim;
  g.h = h;
  g.w = w;
  g.scale = 1.0f / std::sqrt(static_cast<float>(key_dim));
  return g;
}

std::string geometry_name(const AttentionGeometry& g) {
  char text[96];
  std::snprintf(text, sizeof text, "b%d h%d kd%d hd%d %dx%d", g.batch, g.heads, g.key_dim, g.head_dim, g.h, g.w);
  return text;
}

// The q, k or v channels (part 0, 1, 2) of every (batch, head) out of a qkv tensor.
std::vector<float> qkv_part(const std::vector<float>& qkv, const AttentionGeometry& g, int part) {
  const std::size_t n = static_cast<std::size_t>(g.tokens());
  const int per_head = 2 * g.key_dim + g.head_dim;
  const int first = part == 0 ? 0 : part == 1 ? g.key_dim : 2 * g.key_dim;
  const int rows = part == 2 ? g.head_dim : g.key_dim;
  std::vector<float> out;
  for (int pair = 0; pair < g.batch * g.heads; ++pair) {
    const std::size_t begin = (static_cast<std::size_t>(pair) * per_head + first) * n;
    out.insert(out.end(), qkv.begin() + static_cast<std::ptrdiff_t>(begin),
               qkv.begin() + static_cast<std::ptrdiff_t>(begin + rows * n));
  }
  return out;
}

std::vector<float> random_input(std::mt19937_64& rng, std::size_t n, bool bf16, float range = 1.0f) {
  std::vector<float> values = random_floats(rng, n, -range, range);
  return bf16 ? round_to_bf16(std::move(values)) : values;
}

template <typename T>
void run_case(Report& report, CudaContext& context, std::mt19937_64& rng, const AttentionGeometry& g) {
  constexpr bool bf16 = !std::is_same_v<T, float>;
  const double tol = bf16 ? 2e-2 : 1e-5;
  const double probs_tol = bf16 ? 1e-4 : 1e-5;
  const std::string prefix = std::string(bf16 ? "bf16 " : "fp32 ") + geometry_name(g) + " ";
  const std::size_t n = static_cast<std::size_t>(g.tokens());
  const std::size_t qkv_numel = static_cast<std::size_t>(g.batch) * g.qkv_channels() * n;
  const std::size_t out_numel = static_cast<std::size_t>(g.batch) * g.out_channels() * n;

  // Scores scale * q.k of a few units: softmax rows neither flat nor one-hot.
  const std::vector<float> qkv = random_input(rng, qkv_numel, bf16, 2.0f);
  const std::vector<float> dout = random_input(rng, out_numel, bf16);
  const std::vector<float> dv_image = random_input(rng, out_numel, bf16);

  std::vector<double> out_ref(out_numel), v_image_ref(out_numel), probs_ref(g.probs_numel()), dqkv_ref(qkv_numel);
  attention_forward_cpu<double>(out_ref.data(), v_image_ref.data(), probs_ref.data(), to_double(qkv).data(), g);
  attention_backward_cpu<double>(dqkv_ref.data(), to_double(dout).data(), to_double(dv_image).data(),
                                 to_double(qkv).data(), probs_ref.data(), g);

  DeviceArray<T> d_qkv = upload<T>(qkv), d_dout = upload<T>(dout), d_dv_image = upload<T>(dv_image);
  DeviceArray<T> d_out(out_numel), d_v_image(out_numel), d_dqkv(qkv_numel);
  DeviceArray<float> d_probs(g.probs_numel());
  DeviceArray<float> d_probs_ref = to_device(to_float(probs_ref));
  attention_forward_cuda<T>(context, d_out.data(), d_v_image.data(), d_probs.data(), d_qkv.data(), g);
  attention_backward_cuda<T>(context, d_dqkv.data(), d_dout.data(), d_dv_image.data(), d_qkv.data(),
                             d_probs_ref.data(), g);
  context.synchronize();

  compare_scaled(report, prefix + "out", download(d_out), to_float(out_ref), tol);
  compare_scaled(report, prefix + "v_image", download(d_v_image), to_float(v_image_ref), 0.0);  // a copy: exact
  compare_scaled(report, prefix + "probs", to_host(d_probs), to_float(probs_ref), probs_tol);
  const std::vector<float> dqkv = download(d_dqkv), expected = to_float(dqkv_ref);
  const char* part_names[] = {"dq", "dk", "dv"};
  for (int part = 0; part < 3; ++part) {
    compare_scaled(report, prefix + part_names[part], qkv_part(dqkv, g, part), qkv_part(expected, g, part), tol);
  }
}

}  // namespace

int main() {
  if (!have_device()) return 77;
  try {
    std::mt19937_64 rng = seeded_rng();
    CudaContext context(0);
    Report report;
    const AttentionGeometry geometries[] = {
        make_geometry(2, 2, 8, 16, 5, 5),    make_geometry(2, 2, 8, 16, 7, 3), make_geometry(1, 1, 4, 8, 1, 1),
        make_geometry(3, 1, 16, 8, 13, 1),   make_geometry(1, 3, 8, 24, 9, 7),
        make_geometry(2, 2, 32, 64, 20, 20),  // YOLO11 C2PSA at P5 (640 input)
    };
    for (const AttentionGeometry& g : geometries) {
      run_case<float>(report, context, rng, g);
      run_case<__nv_bfloat16>(report, context, rng, g);
    }
    // A bad geometry is refused with a message, not run.
    try {
      attention_forward_cuda<float>(context, nullptr, nullptr, nullptr, nullptr, make_geometry(1, 0, 8, 16, 5, 5));
      report.check("zero heads is refused", false, "no error");
    } catch (const CudaError& error) {
      report.check("zero heads is refused", true, error.what());
    }
    return report.finish();
  } catch (const std::exception& error) {
    std::printf("FAILED: %s\n", error.what());
    return 1;
  }
}
