// pipeline/cli/cmd_debug_bench.cpp: `shrike debug bench-step`: training-step throughput
// and memory on a GPU for a model, image size, batch and precision, on synthetic data
// kept on the device (so the figure is the step's, not the loader's or the PCIe
// link's). bench/gpu-check.sh runs it beside bench/torch_train_step.py, which times the
// same step in PyTorch, and prints both; the JSON line has the same keys.
#include <cuda_runtime_api.h>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <random>
#include <vector>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/model/model.h"
#include "pipeline/model/model_spec.h"
#include "pipeline/train/device_training.h"
#include "pipeline/train/ema.h"
#include "pipeline/train/optimizer.h"

namespace shrike::cli {

namespace po = boost::program_options;

namespace {

CommandSpec bench_step_spec() {
  CommandSpec spec;
  spec.name = "debug bench-step";
  spec.usage = "shrike debug bench-step [--model yolov8n.yaml] [--imgsz 640] [--batch 64] [--amp] [--device cuda:0]";
  spec.description =
      "Time the training step on a GPU: forward, loss, backward, optimizer and EMA on a\n"
      "synthetic batch (random pixels, 8 random boxes per image) that stays on the device.\n"
      "Prints one JSON line: images_per_s, step_ms, peak_mem_gib (device memory in use at\n"
      "the end, the CUDA context included), the last loss.";
  spec.options.add_options()
      ("model", po::value<std::string>()->default_value("yolov8n.yaml"), "model YAML")
      ("imgsz", po::value<int>()->default_value(640), "image size (multiple of 32)")
      ("batch", po::value<int>()->default_value(64), "images per step")
      ("amp", po::bool_switch(), "bf16 activations and convolutions (default fp32)")
      ("device", po::value<std::string>()->default_value("cuda:0"), "cuda:N")
      ("steps", po::value<int>()->default_value(30), "timed steps")
      ("warmup", po::value<int>()->default_value(5), "untimed steps first (algorithm search, caches)");
  return spec;
}

}  // namespace

int run_debug_bench_step(const Args& args) {
  CommandSpec spec = bench_step_spec();
  auto values = parse_options(spec, args);
  if (!values) return 0;
  const po::variables_map& v = *values;
  const int imgsz = v["imgsz"].as<int>(), batch = v["batch"].as<int>();
  const int steps = v["steps"].as<int>(), warmup = v["warmup"].as<int>();
  if (batch < 1 || steps < 1 || warmup < 0) fail_user("--batch and --steps must be >= 1, --warmup >= 0");
  const int device = train::resolve_device(v["device"].as<std::string>(), 0);
  if (device < 0) fail_user("shrike debug bench-step times a GPU: pass --device cuda:N");
  model::Model model(model::load_model_spec(v["model"].as<std::string>()));
  model.initialize(0);
  train::ResolvedOptimizer resolved;  // SGD, the reference's defaults
  train::Optimizer optimizer(model.params(), resolved);
  train::ModelEma ema(model.params());
  const bool amp = v["amp"].as<bool>();
  std::unique_ptr<train::DeviceTraining> training = train::make_cuda_training(device, model, &optimizer, &ema, amp);

  const kernels::Shape4 shape{batch, 3, imgsz, imgsz};
  std::mt19937 rng(0);
  std::vector<unsigned char> pixels(static_cast<std::size_t>(batch) * imgsz * imgsz * 3);
  for (auto& p : pixels) p = static_cast<unsigned char>(rng());
  unsigned char* device_pixels = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&device_pixels), pixels.size()) != cudaSuccess ||
      cudaMemcpy(device_pixels, pixels.data(), pixels.size(), cudaMemcpyHostToDevice) != cudaSuccess) {
    fail_user("cannot place a {} MiB synthetic batch on the GPU", pixels.size() >> 20);
  }
  std::vector<float> targets;
  std::uniform_real_distribution<float> unit(0.1f, 0.9f), size(0.02f, 0.3f);
  for (int image = 0; image < batch; ++image) {
    for (int box = 0; box < 8; ++box) {
      targets.insert(targets.end(), {static_cast<float>(image), static_cast<float>(rng() % 80), unit(rng), unit(rng),
                                     size(rng), size(rng)});
    }
  }
  train::StepLoss loss;
  auto step = [&] {
    loss = training->forward_backward_u8(device_pixels, shape, targets);
    training->optimizer_step();
  };
  for (int i = 0; i < warmup; ++i) step();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  cudaFree(device_pixels);
  nlohmann::json line = {{"framework", "shrike"},
                         {"model", v["model"].as<std::string>()},
                         {"imgsz", imgsz},
                         {"batch", batch},
                         {"precision", amp ? "bf16" : "fp32"},
                         {"images_per_s", steps * batch / seconds},
                         {"step_ms", 1000.0 * seconds / steps},
                         {"peak_mem_gib", static_cast<double>(training->peak_memory_bytes()) / (1 << 30)},
                         {"loss", loss.total},
                         {"device", training->description()}};
  fmt::print("{}\n", line.dump());
  return 0;
}

}  // namespace shrike::cli
