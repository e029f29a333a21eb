// tests/unit/test_graph_layout.cpp: the CPU engine runs its graphs in NHWC order
// (pipeline/model/graph.h); built in NCHW instead, the same network on the same
// parameters must give the same outputs and parameter gradients up to float
// rounding, in eval and training mode, for both model families (YOLO11 adds the
// attention op, which an NHWC graph runs through transposes; the NHWC graph also fuses
// each batch norm with its SiLU). The outputs of both are NCHW: the graph's edges do not
// change with its layout.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "pipeline/model/model.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/model/network.h"
#include "tests/unit/test_support.h"

namespace shrike::model {
namespace {

struct Pass {
  std::vector<std::vector<float>> eval_outputs, train_outputs;
  std::vector<float> grads;
};

// Eval forward, training forward, then backward from `probes` (one per output, NCHW).
Pass run(Graph& graph, ParamStore& params, const std::vector<float>& image,
         const std::vector<std::vector<float>>& probes) {
  Pass pass;
  graph.forward(image.data(), Mode::kEval);
  for (int out : graph.outputs()) pass.eval_outputs.emplace_back(graph.value(out), graph.value(out) + graph.shape(out).numel());
  graph.forward(image.data(), Mode::kTrain);
  for (int out : graph.outputs()) {
    pass.train_outputs.emplace_back(graph.value(out), graph.value(out) + graph.shape(out).numel());
  }
  params.zero_grads();
  for (std::size_t l = 0; l < probes.size(); ++l) {
    float* grad = graph.output_grad(static_cast<int>(l));
    std::copy(probes[l].begin(), probes[l].end(), grad);
  }
  graph.backward();
  pass.grads.assign(params.grads().begin(), params.grads().end());
  return pass;
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-300));
}

double l2(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  return std::sqrt(sum);
}

TEST(GraphLayout, NhwcGraphMatchesNchwGraph) {
  for (const char* yaml : {"yolov8n.yaml", "yolo11n.yaml"}) {
    Model model(load_model_spec(yaml, 3));
    model.initialize(11);
    const Shape4 shape{2, 3, 64, 96};
    std::vector<float> image(shape.numel());
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    for (float& v : image) v = unit(rng);

    Graph& nhwc = model.graph(shape);
    ASSERT_EQ(nhwc.layout(), kernels::Layout::kNHWC) << "the CPU engine's graphs are NHWC";
    // NHWC graphs run each batch norm that feeds a SiLU (every activated Conv module)
    // together with it; those of YOLO11's attention convolutions (act=False) alone.
    int batchnorms = 0, fused = 0;
    const auto& ops = nhwc.ops();
    for (std::size_t i = 0; i + 1 < ops.size(); ++i) {
      if (std::string(ops[i]->kind()) != "batchnorm") continue;
      ++batchnorms;
      const bool feeds_silu =
          std::string(ops[i + 1]->kind()) == "silu" && ops[i + 1]->inputs[0] == ops[i]->outputs[0];
      EXPECT_EQ(!ops[i]->fused_outputs.empty(), feeds_silu) << yaml << " " << ops[i]->module;
      fused += ops[i]->fused_outputs.empty() ? 0 : 1;
    }
    EXPECT_GT(fused, batchnorms * 9 / 10) << yaml;
    BuiltNetwork nchw_built = build_network(model.spec(), model.params(), shape, GraphStorage::kHost,
                                            kernels::Layout::kNCHW);
    Graph& nchw = *nchw_built.graph;
    ASSERT_EQ(nchw.outputs().size(), nhwc.outputs().size());
    std::vector<std::vector<float>> probes;
    for (int out : nchw.outputs()) {
      ASSERT_EQ(nchw.shape(out), nhwc.shape(out));
      probes.emplace_back(nchw.shape(out).numel());
      for (float& v : probes.back()) v = unit(rng) - 0.5f;
    }
    // Training passes move the running statistics: both graphs start from the same ones.
    const std::vector<float> start(model.params().float_state().begin(), model.params().float_state().end());
    const Pass a = run(nchw, model.params(), image, probes);
    std::copy(start.begin(), start.end(), model.params().float_state().begin());
    const Pass b = run(nhwc, model.params(), image, probes);

    for (std::size_t l = 0; l < probes.size(); ++l) {
      EXPECT_LT(rel_l2(b.eval_outputs[l], a.eval_outputs[l]), 1e-5) << yaml << " eval output " << l;
      EXPECT_LT(rel_l2(b.train_outputs[l], a.train_outputs[l]), 1e-5) << yaml << " train output " << l;
    }
    // Gradients pass through ~20 batch norms whose backward cancels terms, so two float
    // paths that sum in different orders differ by the float noise floor: PyTorch's own
    // float32 and float64 gradients differ by 3.5e-5 to 4.4e-5 per tensor (test_parity),
    // and these two layouts by ~3e-5 (yolov8n) and ~8e-5 (yolo11n) overall. A layout
    // mistake moves a gradient by O(1).
    EXPECT_LT(rel_l2(b.grads, a.grads), 2e-4) << yaml << " parameter gradients";
    // Per tensor, the same bound at the worst; three YOLO11 gradients (a bias feeding a
    // batch norm, which removes constant shifts) are zero in exact arithmetic and
    // float noise in both layouts: those are held to an absolute bound instead.
    const double total_norm = l2(a.grads);
    double worst = 0;
    std::string worst_name;
    for (const TensorEntry& e : model.params().entries()) {
      if (e.role != TensorRole::kWeight && e.role != TensorRole::kNormWeight && e.role != TensorRole::kBias) continue;
      const auto begin_a = a.grads.begin() + static_cast<std::ptrdiff_t>(e.offset);
      const auto begin_b = b.grads.begin() + static_cast<std::ptrdiff_t>(e.offset);
      const std::vector<float> ga(begin_a, begin_a + static_cast<std::ptrdiff_t>(e.numel));
      const std::vector<float> gb(begin_b, begin_b + static_cast<std::ptrdiff_t>(e.numel));
      if (l2(ga) < 1e-6 * total_norm) {
        EXPECT_LT(l2(gb), 1e-6 * total_norm) << yaml << " " << e.name << " is zero in one layout only";
        continue;
      }
      const double error = rel_l2(gb, ga);
      if (error > worst) {
        worst = error;
        worst_name = e.name;
      }
    }
    std::printf("%s: worst parameter gradient %.2e (%s)\n", yaml, worst, worst_name.c_str());
    EXPECT_LT(worst, 1e-3) << yaml << " " << worst_name;
    std::vector<float> after(model.params().float_state().begin(), model.params().float_state().end());
    EXPECT_NE(after, start) << "the training pass updated the running statistics";
  }
}

}  // namespace
}  // namespace shrike::model
