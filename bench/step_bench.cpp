// bench/step_bench.cpp
//
// Training-step speed of the CPU engine: forward + loss + backward + gradient clipping
// + the SGD update (what bench/torch_step_bench.py times in PyTorch) for a model at a batch and image
// size, on random images with random targets. Prints the median step time, ms per
// image, images/s, the achieved GFLOP/s against the machine's FP32 peak (FLOPs = 2 x
// multiply-adds of the graph, x3 for forward + both backward passes of each conv),
// per-op-kind time of one profiled step, and the peak resident memory.
//
// usage: bench_step [--model yolov8n.yaml] [--imgsz 320] [--batch 16] [--steps 5] [--warmup 2]
//                   [--nc 80] [--peak-gflops G | --measure-peak] [--profile]
#include <fmt/core.h>
#include <oneapi/dnnl/dnnl.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "pipeline/core/error.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/train/detect_step.h"
#include "pipeline/train/optimizer.h"

using namespace shrike;

namespace {

struct Options {
  std::string model = "yolov8n.yaml";
  int imgsz = 320, batch = 16, steps = 5, warmup = 2, nc = 80;
  double peak_gflops = 0;
  bool profile = false;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string key = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) fail_user("{} needs a value", key);
      return argv[++i];
    };
    if (key == "--model") o.model = next();
    else if (key == "--imgsz") o.imgsz = std::stoi(next());
    else if (key == "--batch") o.batch = std::stoi(next());
    else if (key == "--steps") o.steps = std::stoi(next());
    else if (key == "--warmup") o.warmup = std::stoi(next());
    else if (key == "--nc") o.nc = std::stoi(next());
    else if (key == "--peak-gflops") o.peak_gflops = std::stod(next());
    else if (key == "--measure-peak") o.peak_gflops = -1;
    else if (key == "--profile") o.profile = true;
    else fail_user("unknown option {}", key);
  }
  return o;
}

// Random targets: 1..6 boxes per image (an empty image every 8th).
std::vector<float> random_targets(int batch, int nc, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> targets;
  for (int b = 0; b < batch; ++b) {
    if (b % 8 == 7) continue;
    int boxes = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < boxes; ++k) {
      float w = 0.05f + 0.4f * u(rng), h = 0.05f + 0.4f * u(rng);
      targets.insert(targets.end(), {static_cast<float>(b), static_cast<float>(rng() % nc), w / 2 + (1 - w) * u(rng),
                                     h / 2 + (1 - h) * u(rng), w, h});
    }
  }
  return targets;
}

double seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The machine's practical FP32 peak: oneDNN's SGEMM on 2048^3 (best of 5), GFLOP/s.
double measure_sgemm_gflops() {
  const int n = 2048;
  std::vector<float> a(static_cast<std::size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size(), 0.0f);
  double best = 0;
  for (int repeat = 0; repeat < 5; ++repeat) {
    auto start = std::chrono::steady_clock::now();
    if (dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n) != dnnl_success) {
      fail_internal("dnnl_sgemm failed");
    }
    best = std::max(best, 2.0 * n * n * static_cast<double>(n) / seconds(start, std::chrono::steady_clock::now()) / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options o = parse(argc, argv);
    if (o.peak_gflops < 0) {
      o.peak_gflops = measure_sgemm_gflops();
      fmt::print("FP32 peak (oneDNN SGEMM 2048^3, best of 5): {:.1f} GFLOP/s\n", o.peak_gflops);
    }
    model::LoadedModel loaded = model::load_model(o.model, o.nc);
    model::Model& model = *loaded.model;
    const kernels::Shape4 shape{o.batch, 3, o.imgsz, o.imgsz};
    std::mt19937 rng(0);
    std::vector<float> images(shape.numel());
    std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
    for (auto& v : images) v = pixel(rng);
    std::vector<float> targets = random_targets(o.batch, o.nc, rng);
    model::Graph& graph = model.graph(shape);
    train::OptimizerSettings sgd;
    sgd.optimizer = "SGD";
    train::Optimizer optimizer(model.params(), train::resolve_optimizer(sgd));
    std::vector<double> times;
    for (int step = 0; step < o.warmup + o.steps; ++step) {
      auto start = std::chrono::steady_clock::now();
      model.params().zero_grads();
      train::detect_forward_backward(model, images.data(), shape, targets);
      train::clip_grad_norm(model.params().grads());
      optimizer.step(model.params());
      auto end = std::chrono::steady_clock::now();
      if (step >= o.warmup) times.push_back(seconds(start, end));
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    const double flops = 3.0 * 2.0 * graph.macs();  // forward + backward data + backward weights
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    fmt::print("{} imgsz {} batch {}: {:.3f} s/step (median of {}), {:.1f} ms/image, {:.2f} images/s, "
               "{:.1f} GFLOP/s{}, peak RSS {:.0f} MB, activations {:.0f} MB\n",
               model.spec().name, o.imgsz, o.batch, median, times.size(), 1000 * median / o.batch, o.batch / median,
               flops / median / 1e9,
               o.peak_gflops > 0 ? fmt::format(" ({:.1f}% of {:.0f} peak)", 100 * flops / median / 1e9 / o.peak_gflops,
                                               o.peak_gflops)
                                 : std::string(),
               usage.ru_maxrss / 1024.0, graph.activation_bytes() / 1048576.0);
    if (o.profile) {
      std::map<std::string, double> forward, backward;
      graph.forward(images.data(), model::Mode::kTrain);
      for (const auto& op : graph.ops()) {
        auto a = std::chrono::steady_clock::now();
        op->forward(graph, model::Mode::kTrain);
        forward[op->kind()] += seconds(a, std::chrono::steady_clock::now());
      }
      auto a = std::chrono::steady_clock::now();
      train::detect_forward_backward(model, images.data(), shape, targets, false);
      double loss_only = seconds(a, std::chrono::steady_clock::now());
      model.params().zero_grads();
      train::detect_forward_backward(model, images.data(), shape, targets, true);
      for (auto it = graph.ops().rbegin(); it != graph.ops().rend(); ++it) {
        auto b = std::chrono::steady_clock::now();
        (*it)->backward(graph);
        backward[(*it)->kind()] += seconds(b, std::chrono::steady_clock::now());
      }
      fmt::print("  profile (one step, seconds): forward+loss {:.3f}\n", loss_only);
      for (const auto& [kind, t] : forward) fmt::print("    {:<10} forward {:.3f}  backward {:.3f}\n", kind, t, backward[kind]);
    }
    return 0;
  } catch (const std::exception& error) {
    fmt::print(stderr, "error: {}\n", error.what());
    return 1;
  }
}
