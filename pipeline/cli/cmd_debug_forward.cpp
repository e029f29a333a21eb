// pipeline/cli/cmd_debug_forward.cpp: `shrike debug forward`: shrike's own inference
// output for a given input (pipeline/model/inference_output.h), the reference an
// exported model is compared with (ONNX Runtime test, PyTorch test, latency bench).
// Input and output are safetensors files, which numpy, Node.js and PyTorch read
// with a few lines: `images` F32 (B, 3, H, W) in, `output0` F32 (B, 4 + nc, A) out.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/model/inference_output.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/model/safetensors_file.h"

namespace shrike::cli {

namespace po = boost::program_options;

namespace {

CommandSpec debug_forward_spec() {
  CommandSpec spec;
  spec.name = "debug forward";
  spec.usage = "shrike debug forward --weights W.h5|MODEL.yaml --input IN.safetensors --out OUT.safetensors "
               "[--repeat N]";
  spec.description =
      "Run shrike's eval-mode forward pass and the Detect decode on the tensor 'images'\n"
      "(float32 (B, 3, H, W), RGB in 0..1) of IN and write 'output0' (float32 (B, 4 + nc, A):\n"
      "cx, cy, w, h in input pixels and sigmoid class scores, the layout of the ONNX export) to\n"
      "OUT. --repeat N runs the forward N times more and prints the median and best latency.";
  spec.options.add_options()
      ("weights", po::value<std::string>()->required()->value_name("W.h5"),
       "weights or checkpoint file (or a model YAML: random initialisation, seed 0)")
      ("input", po::value<std::string>()->required()->value_name("IN.safetensors"), "holds 'images'")
      ("out", po::value<std::string>()->required()->value_name("OUT.safetensors"), "receives 'output0'")
      ("repeat", po::value<int>()->default_value(0)->value_name("N"), "time N more forward passes");
  return spec;
}

model::Shape4 images_shape(const model::SafetensorsTensor& images, const std::string& source) {
  if (images.shape.size() != 4 || images.shape[1] != 3) {
    fail_user("{}: 'images' must have shape (B, 3, H, W), it has {} dimensions", source, images.shape.size());
  }
  return {static_cast<int>(images.shape[0]), 3, static_cast<int>(images.shape[2]), static_cast<int>(images.shape[3])};
}

void print_latency(model::Model& m, model::Shape4 shape, const std::vector<float>& pixels, int repeat) {
  std::vector<double> ms;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    model::run_inference(m, shape, pixels);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  fmt::print("latency over {} runs (forward + decode, {}): median {:.1f} ms, best {:.1f} ms\n", repeat, shape.str(),
             ms[ms.size() / 2], ms.front());
}

}  // namespace

int run_debug_forward(const Args& args) {
  CommandSpec spec = debug_forward_spec();
  auto values = parse_options(spec, args);
  if (!values) return 0;
  const po::variables_map& v = *values;
  const int repeat = v["repeat"].as<int>();
  if (repeat < 0) fail_user("--repeat {} must be 0 or more", repeat);
  const std::string input = v["input"].as<std::string>();
  const model::SafetensorsContent content = model::read_safetensors(input);
  auto images = content.tensors.find("images");
  if (images == content.tensors.end()) fail_user("{} has no tensor 'images'", input);
  const model::Shape4 shape = images_shape(images->second, input);
  const std::vector<float> pixels = model::tensor_floats(images->second, input + ": tensor images");
  model::LoadedModel loaded = model::load_model(v["weights"].as<std::string>());
  const model::InferenceOutput out = model::run_inference(*loaded.model, shape, pixels);
  model::SafetensorsContent result;
  result.tensors["output0"] = model::float_tensor({out.batch, out.rows, out.anchors}, out.values);
  model::write_safetensors(v["out"].as<std::string>(), result);
  fmt::print("output0 ({}, {}, {}) written to {}\n", out.batch, out.rows, out.anchors, v["out"].as<std::string>());
  if (repeat > 0) print_latency(*loaded.model, shape, pixels, repeat);
  return 0;
}

}  // namespace shrike::cli
