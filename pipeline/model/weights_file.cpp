// pipeline/model/weights_file.cpp: state dicts to and from HDF5.
#include "pipeline/model/weights_file.h"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "pipeline/core/atomic_file.h"
#include "pipeline/core/error.h"
#include "pipeline/data/hdf5_check.h"

namespace shrike::model {

namespace fs = std::filesystem;
using data::H5Handle;

namespace {

H5Handle open_file(const fs::path& path) { return data::open_hdf5_readonly(path.string(), "weights file"); }

bool has_attribute(hid_t object, const char* name) { return H5Aexists(object, name) > 0; }

// Collects dataset names of a group (non-recursive).
herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->push_back(name);
  return 0;
}

std::vector<std::string> dataset_names(hid_t group, const std::string& where) {
  std::vector<std::string> names;
  H5_CHECK(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names), where);
  return names;
}

int nc_from_class_heads(const StateDict& state) {
  for (const auto& [name, shape] : state.shapes) {
    // Detect's class-branch output conv: model.<i>.cv3.0.2.weight (nc, c3, 1, 1)
    if (name.find(".cv3.0.2.weight") != std::string::npos && !shape.empty()) return static_cast<int>(shape[0]);
  }
  return 0;
}

}  // namespace

StateDict read_state_dict(const fs::path& path, const std::string& group_name) {
  H5Handle file = open_file(path);
  const std::string where = path.string() + " " + group_name;
  if (H5Lexists(file, group_name.c_str(), H5P_DEFAULT) <= 0) {
    fail_user("{} has no {} group: not a shrike weights file (see DESIGN.md § File contracts)", path.string(),
              group_name);
  }
  H5Handle group(H5_CHECK(H5Gopen2(file, group_name.c_str(), H5P_DEFAULT), where));
  StateDict state;
  for (const std::string& name : dataset_names(group, where)) {
    std::vector<hsize_t> dims = data::dataset_dims(group, name.c_str(), where);
    std::size_t count = 1;
    std::vector<std::int64_t> shape;
    for (hsize_t d : dims) {
      count *= d;
      shape.push_back(static_cast<std::int64_t>(d));
    }
    state.shapes[name] = shape;
    H5Handle dataset(H5_CHECK(H5Dopen2(group, name.c_str(), H5P_DEFAULT), where + "/" + name));
    H5Handle type(H5_CHECK(H5Dget_type(dataset), where + "/" + name));
    if (H5Tget_class(type) == H5T_INTEGER) {
      std::vector<std::int64_t> values(count);
      data::read_dataset(group, name.c_str(), H5T_NATIVE_INT64, values.data(), where);
      state.counters[name] = std::move(values);
    } else {
      std::vector<float> values(count);  // float16 and float64 convert on read
      data::read_dataset(group, name.c_str(), H5T_NATIVE_FLOAT, values.data(), where);
      state.floats[name] = std::move(values);
    }
  }
  return state;
}

WeightsInfo read_weights_info(const fs::path& path) {
  H5Handle file = open_file(path);
  const std::string where = path.string();
  WeightsInfo info;
  if (has_attribute(file, "model_yaml")) info.model_yaml = data::read_string_attribute(file, "model_yaml", where);
  if (has_attribute(file, "imgsz")) info.imgsz = static_cast<int>(data::read_int_attribute(file, "imgsz", where));
  if (has_attribute(file, "nc")) info.nc = static_cast<int>(data::read_int_attribute(file, "nc", where));
  if (has_attribute(file, "names")) {
    std::vector<std::string> names = data::read_strings_attribute(file, "names", where);
    if (names.size() == 1 && !names[0].empty() && names[0].front() == '[') {  // a JSON list
      try {
        names = nlohmann::json::parse(names[0]).get<std::vector<std::string>>();
      } catch (const std::exception&) {
        fail_user("{}: attribute 'names' is not a JSON list of strings", where);
      }
    }
    info.names = names;
  }
  if (info.nc == 0) info.nc = nc_from_class_heads(read_state_dict(path));
  if (info.nc == 0) fail_user("{}: no 'nc' attribute and no class head to infer it from", where);
  if (info.names.empty()) {
    for (int i = 0; i < info.nc; ++i) info.names.push_back("class" + std::to_string(i));
  }
  if (info.model_yaml.empty()) {
    fail_user("{}: no 'model_yaml' attribute; shrike cannot tell which architecture the weights belong to. "
              "Import them with `shrike import FILE --model yolov8n.yaml`.", where);
  }
  return info;
}

void check_state_dict(const ParamStore& params, const StateDict& state, const std::string& source) {
  for (const TensorEntry& e : params.entries()) {
    auto shape = state.shapes.find(e.name);
    if (shape == state.shapes.end()) {
      fail_user("{}: tensor {} is missing: the weights belong to another architecture", source, e.name);
    }
    if (shape->second != e.shape) {
      bool class_head = e.name.find(".cv3.") != std::string::npos;
      fail_user("{}: tensor {} has shape [{}], the model expects [{}]{}", source, e.name, fmt::join(shape->second, ", "),
                fmt::join(e.shape, ", "),
                class_head ? " (another class count: pass nc to match, or import with --nc)"
                           : " (another architecture or scale)");
    }
    const bool is_counter = e.role == TensorRole::kCounter;
    if (is_counter ? !state.counters.count(e.name) : !state.floats.count(e.name)) {
      fail_user("{}: {} should be {} tensor", source, e.name, is_counter ? "an integer" : "a float");
    }
  }
}

void load_state_dict(ParamStore& params, const StateDict& state, const std::string& source) {
  check_state_dict(params, state, source);
  for (int i = 0; i < static_cast<int>(params.entries().size()); ++i) {
    const TensorEntry& e = params.entry(i);
    if (e.role == TensorRole::kCounter) {
      const std::vector<std::int64_t>& values = state.counters.at(e.name);
      *params.counter(i) = values.empty() ? 0 : values[0];
    } else {
      const std::vector<float>& values = state.floats.at(e.name);
      std::copy(values.begin(), values.end(), params.value(i));
    }
  }
}

void write_state_group(std::int64_t file, const std::string& group_name, const ParamStore& layout,
                       std::span<const float> floats, std::span<const std::int64_t> counters, const std::string& where) {
  H5Handle group(H5_CHECK(H5Gcreate2(file, group_name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where));
  for (const TensorEntry& e : layout.entries()) {
    std::vector<hsize_t> dims(e.shape.begin(), e.shape.end());
    if (e.role == TensorRole::kCounter) {
      data::write_dataset(group, e.name.c_str(), H5T_STD_I64LE, dims, counters.data() + e.offset, where);
    } else {
      data::write_dataset(group, e.name.c_str(), H5T_IEEE_F32LE, dims, floats.data() + e.offset, where);
    }
  }
}

void write_weights_attributes(std::int64_t file, const WeightsInfo& info, const std::string& where) {
  data::write_int_attribute(file, "nc", info.nc, where);
  data::write_string_attribute(file, "names", nlohmann::json(info.names).dump(), where);
  data::write_string_attribute(file, "model_yaml", info.model_yaml, where);
  data::write_int_attribute(file, "imgsz", info.imgsz, where);
  data::write_string_attribute(file, "stride", nlohmann::json(info.stride).dump(), where);
}

bool file_has_group(const fs::path& path, const std::string& group) {
  H5Handle file = open_file(path);
  return H5Lexists(file, group.c_str(), H5P_DEFAULT) > 0;
}

std::string deployable_group(const fs::path& path) { return file_has_group(path, "/ema") ? "/ema" : "/model"; }

void write_weights(const fs::path& path, const ParamStore& params, const WeightsInfo& info) {
  data::silence_hdf5_error_printing();
  const fs::path temp = temporary_sibling(path);
  const std::string where = path.string();
  {
    H5Handle file(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    if (file.get() < 0) fail_user("cannot create {}: is the folder writable?", temp.string());
    write_state_group(file, "model", params, params.float_state(), params.counters(), where);
    write_weights_attributes(file, info, where);
    H5_CHECK(H5Fflush(file, H5F_SCOPE_GLOBAL), where);
  }
  fsync_path(temp);
  rename_durably(temp, path);
}

}  // namespace shrike::model
