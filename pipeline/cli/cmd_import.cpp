// pipeline/cli/cmd_import.cpp: `shrike import FILE.safetensors|FILE.h5 --out W.h5`:
// weights trained elsewhere (converted from a PyTorch .pt, say) into a shrike weights
// file for `train model=W.h5`, `val` and `predict`, with strict name and shape
// checks and the class-count exception (pipeline/model/state_dict_import.h).
#include <fmt/core.h>

#include <filesystem>
#include <optional>
#include <sstream>

#include "pipeline/cli/command_table.h"
#include "pipeline/core/error.h"
#include "pipeline/model/model_loading.h"
#include "pipeline/model/state_dict_import.h"

namespace shrike::cli {

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

CommandSpec import_spec() {
  CommandSpec spec;
  spec.name = "import";
  spec.usage = "shrike import FILE.safetensors|FILE.h5 --out W.h5 [--model MODEL.yaml] [--nc K] [--names a,b,...]";
  spec.description =
      "Bring weights trained elsewhere into shrike: a state dict with the Ultralytics tensor\n"
      "names, in safetensors (for example converted from a .pt file: README, 'Export and\n"
      "deployment') or HDF5 (/model/<name> datasets). Every tensor of the model must be in the\n"
      "file with its shape, and nothing else; a missing, extra or mis-shaped tensor is an error\n"
      "naming it. With another class count (--nc) everything is kept except the Detect class\n"
      "branches' tensors whose shape depends on it, which start from the reference's\n"
      "initialisation (listed). The result is a weights file for `shrike train model=W.h5`\n"
      "(fine-tuning), `val`, `predict` and `export`.";
  spec.options.add_options()
      ("file", po::value<std::string>()->required()->value_name("FILE"), "FILE.safetensors or FILE.h5 (positional)")
      ("out,o", po::value<std::string>()->required()->value_name("W.h5"), "weights file to write")
      ("model", po::value<std::string>()->value_name("MODEL.yaml"),
       "architecture (yolov8n.yaml ... yolo11x.yaml or your YAML); default: the file's model_yaml")
      ("nc", po::value<int>()->value_name("K"), "class count of the result (default: the file's)")
      ("names", po::value<std::string>()->value_name("a,b,..."), "class names, comma-separated (default: the file's)")
      ("imgsz", po::value<int>()->value_name("S"), "image size to record (default: the file's, else 640)");
  spec.positional.add("file", 1);
  spec.epilog =
      "Examples:\n"
      "  shrike import yolov8n.safetensors --model yolov8n.yaml --out yolov8n.h5\n"
      "  shrike import yolov8n.safetensors --model yolov8n.yaml --nc 4 --names cat,dog,car,bus --out base.h5\n"
      "  shrike train configs/experiments/quickstart.yaml model=base.h5";
  return spec;
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> names;
  std::stringstream stream(text);
  for (std::string name; std::getline(stream, name, ',');) names.push_back(name);
  return names;
}

// The architecture: --model, else what the file records (a name or YAML text).
model::ModelSpec resolve_spec(const po::variables_map& v, const model::WeightsInfo& file_info, const fs::path& file,
                              std::optional<int> nc) {
  if (v.count("model")) return model::load_model_spec(v["model"].as<std::string>(), nc);
  const std::string& recorded = file_info.model_yaml;
  if (recorded.empty()) {
    fail_user("{} does not say which architecture it holds: pass --model (yolov8n.yaml ... yolov8x.yaml, "
              "yolo11n.yaml ... yolo11x.yaml, or your model YAML)", file.string());
  }
  if (recorded.find('\n') == std::string::npos && recorded.size() < 256) return model::load_model_spec(recorded, nc);
  return model::parse_model_spec(recorded, file.stem().string(), file.string() + " (model_yaml)", nc);
}

std::vector<std::string> resolve_names(const po::variables_map& v, const model::WeightsInfo& file_info, int nc) {
  if (v.count("names")) {
    std::vector<std::string> names = split_names(v["names"].as<std::string>());
    if (static_cast<int>(names.size()) != nc) {
      fail_user("--names lists {} names for {} classes", names.size(), nc);
    }
    return names;
  }
  if (static_cast<int>(file_info.names.size()) == nc) return file_info.names;
  std::vector<std::string> names;
  for (int i = 0; i < nc; ++i) names.push_back(fmt::format("class{}", i));
  return names;
}

}  // namespace

int run_import(const Args& args) {
  CommandSpec spec = import_spec();
  auto values = parse_options(spec, args);
  if (!values) return 0;
  const po::variables_map& v = *values;
  const fs::path file = v["file"].as<std::string>();
  const fs::path out = v["out"].as<std::string>();
  if (fs::exists(out) && fs::exists(file) && fs::equivalent(out, file)) {
    fail_user("--out {} is the input file", out.string());
  }
  if (out.extension() != ".h5" && out.extension() != ".hdf5") {
    fail_user("--out {}: shrike weights files end in .h5", out.string());
  }
  model::WeightsInfo file_info;
  const model::StateDict state = model::read_importable_state_dict(file, &file_info);
  const int file_nc = file_info.nc > 0 ? file_info.nc : model::class_count_of(state);
  std::optional<int> nc;  // none: the YAML's own
  if (v.count("nc")) {
    nc = v["nc"].as<int>();
    if (*nc < 1) fail_user("--nc {} must be at least 1", *nc);
  } else if (file_nc > 0) {
    nc = file_nc;
  }
  model::Model m(resolve_spec(v, file_info, file, nc));
  m.initialize(0);
  const model::ImportReport report = model::import_state_dict(m, state, file.string());

  model::WeightsInfo info;
  info.nc = m.nc();
  info.names = resolve_names(v, file_info, m.nc());
  info.model_yaml = model::recorded_model_yaml(m.spec());
  info.imgsz = v.count("imgsz") ? v["imgsz"].as<int>() : (file_info.imgsz > 0 ? file_info.imgsz : 640);
  info.stride = m.strides();
  model::write_weights(out, m.params(), info);
  fmt::print("imported {} of {} tensors from {} into {} ({} classes); wrote {}\n", report.kept,
             m.params().entries().size(), file.string(), m.spec().name, m.nc(), out.string());
  if (!report.reinitialised.empty()) {
    fmt::print("note: the file has {} classes, the model {}: these {} class-branch tensors start from the "
               "reference's initialisation (fine-tune with `shrike train model={}`):\n",
               report.file_nc, m.nc(), report.reinitialised.size(), out.string());
    for (const std::string& name : report.reinitialised) fmt::print("  {}\n", name);
  }
  return 0;
}

}  // namespace shrike::cli
