// pipeline/cli/cmd_debug.cpp: `shrike debug step`: the parity contract with PyTorch.
#include <fmt/core.h>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/train/debug_step.h"
#include "pipeline/train/device_training.h"

namespace shrike::cli {

namespace po = boost::program_options;

namespace {

CommandSpec debug_spec() {
  CommandSpec spec;
  spec.name = "debug";
  spec.usage = "shrike debug step --weights W.h5 --batch B.h5 --out O.h5 [--model MODEL.yaml] [--device cuda:N [--amp]]";
  spec.description =
      "Run one training-mode forward and backward pass on a fixed batch and write what\n"
      "every numerical comparison with PyTorch needs (DESIGN.md, 'Parity batch'): the raw\n"
      "head maps, the loss items and total, and the gradient of every trainable parameter.\n"
      "The architecture and class count come from the weights file (model_yaml and nc);\n"
      "--model overrides the architecture.\n"
      "--device cuda:N runs the step on that GPU (fp32 unless --amp), for the CPU-vs-GPU checks.\n"
      "`shrike debug forward --help`: the eval-mode inference output for an input (export checks).\n"
      "`shrike debug bench-step --help`: training-step throughput on a GPU (bench/gpu-check.sh).";
  spec.options.add_options()
      ("action", po::value<std::string>()->required()->value_name("step"), "what to run (step)")
      ("weights", po::value<std::string>()->required()->value_name("W.h5"), "weights file (/model state dict)")
      ("batch", po::value<std::string>()->required()->value_name("B.h5"), "batch file (/images, /targets)")
      ("out", po::value<std::string>()->required()->value_name("O.h5"), "output file to write")
      ("model", po::value<std::string>()->value_name("MODEL.yaml"), "architecture, if not the weights' model_yaml")
      ("device", po::value<std::string>()->default_value("cpu")->value_name("cpu|cuda:N"), "where to run the step")
      ("amp", po::bool_switch(), "on a GPU: bf16 activations and convolutions (default fp32)");
  spec.positional.add("action", 1);
  spec.epilog = "Example:\n  shrike debug step --weights tests/reference/fixtures/yolov8n_s128_b3.weights.h5 \\\n"
                "      --batch tests/reference/fixtures/yolov8n_s128_b3.batch.h5 --out step.h5";
  return spec;
}

}  // namespace

int run_debug(const Args& args) {
  if (!args.empty() && args[0] == "forward") return run_debug_forward(Args(args.begin() + 1, args.end()));
  if (!args.empty() && args[0] == "bench-step") return run_debug_bench_step(Args(args.begin() + 1, args.end()));
  CommandSpec spec = debug_spec();
  auto values = parse_options(spec, args);
  if (!values) return 0;
  const po::variables_map& v = *values;
  if (v["action"].as<std::string>() != "step") {
    fail_user("shrike debug: unknown action '{}'; the action is 'step'", v["action"].as<std::string>());
  }
  const std::string weights = v["weights"].as<std::string>();
  model::LoadedModel loaded;
  if (v.count("model")) {
    model::WeightsInfo info = model::read_weights_info(weights);
    loaded.model = std::make_unique<model::Model>(model::load_model_spec(v["model"].as<std::string>(), info.nc));
    model::load_state_dict(loaded.model->params(), model::read_state_dict(weights), weights);
  } else {
    loaded = model::load_model(weights);
  }
  train::ParityBatch batch = train::read_parity_batch(v["batch"].as<std::string>());
  const int device = train::resolve_device(v["device"].as<std::string>(), 0);
  std::vector<std::vector<float>> heads;
  const train::StepLoss loss =
      device < 0 ? train::run_debug_step(*loaded.model, batch)
                 : train::run_debug_step_on_device(*loaded.model, batch, device, v["amp"].as<bool>(), heads);
  train::write_debug_step(v["out"].as<std::string>(), *loaded.model, batch, loss, device < 0 ? nullptr : &heads);
  fmt::print("loss: box {:.6f} cls {:.6f} dfl {:.6f}, total {:.6f} (batch {}); wrote {}\n", loss.box, loss.cls,
             loss.dfl, loss.total, batch.shape.n, v["out"].as<std::string>());
  return 0;
}

}  // namespace shrike::cli
