// pipeline/model/onnx_graph_writer.cpp: nodes, attributes and initializers on an
// onnx::GraphProto (see onnx_graph_writer.h).
#include "pipeline/model/onnx_graph_writer.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <cstring>

#include "pipeline/core/error.h"
#include "pipeline/model/float16.h"

namespace shrike::model {

namespace {

std::size_t element_count(const std::vector<std::int64_t>& dims) {
  std::size_t n = 1;
  for (std::int64_t d : dims) n *= static_cast<std::size_t>(d);
  return n;
}

onnx::TensorProto* new_initializer(onnx::GraphProto* graph, const std::string& name,
                                   const std::vector<std::int64_t>& dims, std::size_t values, int type) {
  if (values != element_count(dims)) {
    fail_internal("ONNX initializer {}: {} values for shape [{}]", name, values, fmt::join(dims, ", "));
  }
  onnx::TensorProto* tensor = graph->add_initializer();
  tensor->set_name(name);
  tensor->set_data_type(type);
  for (std::int64_t d : dims) tensor->add_dims(d);
  return tensor;
}

void set_attribute(onnx::AttributeProto* attribute, const OnnxAttr& attr) {
  attribute->set_name(attr.name);
  if (const auto* i = std::get_if<std::int64_t>(&attr.value)) {
    attribute->set_type(onnx::AttributeProto::INT);
    attribute->set_i(*i);
  } else if (const auto* f = std::get_if<float>(&attr.value)) {
    attribute->set_type(onnx::AttributeProto::FLOAT);
    attribute->set_f(*f);
  } else if (const auto* s = std::get_if<std::string>(&attr.value)) {
    attribute->set_type(onnx::AttributeProto::STRING);
    attribute->set_s(*s);
  } else {
    attribute->set_type(onnx::AttributeProto::INTS);
    for (std::int64_t v : std::get<std::vector<std::int64_t>>(attr.value)) attribute->add_ints(v);
  }
}

void set_tensor_type(onnx::ValueInfoProto* info, int elem_type, const std::vector<OnnxDim>& dims) {
  onnx::TypeProto_Tensor* tensor = info->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(elem_type);
  onnx::TensorShapeProto* shape = tensor->mutable_shape();
  for (const OnnxDim& dim : dims) {
    onnx::TensorShapeProto_Dimension* d = shape->add_dim();
    if (const auto* size = std::get_if<std::int64_t>(&dim)) {
      d->set_dim_value(*size);
    } else {
      d->set_dim_param(std::get<std::string>(dim));
    }
  }
}

// "model.2.cv1.conv" -> "/model.2/cv1/conv": the PyTorch exporter's node scopes.
std::string scope_path(const std::string& scope) {
  if (scope.empty()) return "";
  std::string path = "/";
  std::size_t start = 0;
  // The first component keeps its layer number ("model.2"); later dots separate modules.
  std::size_t first = scope.find('.');
  if (first != std::string::npos) first = scope.find('.', first + 1);
  if (first == std::string::npos) return path + scope;
  path += scope.substr(0, first);
  start = first + 1;
  std::string rest = scope.substr(start);
  for (char& c : rest) {
    if (c == '.') c = '/';
  }
  return path + "/" + rest;
}

}  // namespace

OnnxGraphWriter::OnnxGraphWriter(onnx::GraphProto* graph, bool half) : graph_(graph), half_(half) {}

int OnnxGraphWriter::elem_type() const { return half_ ? onnx::TensorProto::FLOAT16 : onnx::TensorProto::FLOAT; }

std::string OnnxGraphWriter::float_weight(const std::string& name, const std::vector<std::int64_t>& dims,
                                          std::span<const float> values) {
  if (!half_) return float32_tensor(name, dims, values);
  if (!initializer_names_.insert(name).second) fail_internal("ONNX initializer {} declared twice", name);
  onnx::TensorProto* tensor = new_initializer(graph_, name, dims, values.size(), onnx::TensorProto::FLOAT16);
  std::string raw(values.size() * 2, '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint16_t bits = float_to_half_bits(values[i]);
    std::memcpy(raw.data() + 2 * i, &bits, 2);
  }
  tensor->set_raw_data(std::move(raw));
  return name;
}

std::string OnnxGraphWriter::float32_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                                            std::span<const float> values) {
  if (!initializer_names_.insert(name).second) fail_internal("ONNX initializer {} declared twice", name);
  onnx::TensorProto* tensor = new_initializer(graph_, name, dims, values.size(), onnx::TensorProto::FLOAT);
  tensor->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return name;
}

std::string OnnxGraphWriter::int64_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                                          std::span<const std::int64_t> values) {
  if (!initializer_names_.insert(name).second) fail_internal("ONNX initializer {} declared twice", name);
  onnx::TensorProto* tensor = new_initializer(graph_, name, dims, values.size(), onnx::TensorProto::INT64);
  tensor->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(std::int64_t)));
  return name;
}

std::string OnnxGraphWriter::scalar(float value) {
  const std::string key = fmt::format("scalar {}", value);
  auto it = constants_.find(key);
  if (it != constants_.end()) return it->second;
  const std::string name = fmt::format("/const/scalar_{}", constants_.size());
  constants_[key] = float_weight(name, {}, std::span<const float>(&value, 1));
  return name;
}

std::string OnnxGraphWriter::float32_scalar(float value) {
  const std::string key = fmt::format("float32 {}", value);
  auto it = constants_.find(key);
  if (it != constants_.end()) return it->second;
  const std::string name = fmt::format("/const/float_{}", constants_.size());
  constants_[key] = float32_tensor(name, {}, std::span<const float>(&value, 1));
  return name;
}

std::string OnnxGraphWriter::int64s(const std::vector<std::int64_t>& values) {
  const std::string key = fmt::format("int64 [{}]", fmt::join(values, ","));
  auto it = constants_.find(key);
  if (it != constants_.end()) return it->second;
  const std::string name = fmt::format("/const/int64_{}", constants_.size());
  constants_[key] = int64_tensor(name, {static_cast<std::int64_t>(values.size())}, values);
  return name;
}

std::string OnnxGraphWriter::int64_scalar(std::int64_t value) {
  const std::string key = fmt::format("int64 {}", value);
  auto it = constants_.find(key);
  if (it != constants_.end()) return it->second;
  const std::string name = fmt::format("/const/int64_{}", constants_.size());
  constants_[key] = int64_tensor(name, {}, std::span<const std::int64_t>(&value, 1));
  return name;
}

std::string OnnxGraphWriter::unique_node_name(const std::string& base) {
  if (node_names_.insert(base).second) return base;
  for (int i = 1;; ++i) {
    std::string candidate = fmt::format("{}_{}", base, i);
    if (node_names_.insert(candidate).second) return candidate;
  }
}

std::vector<std::string> OnnxGraphWriter::node(const std::string& op_type, const std::vector<std::string>& inputs,
                                               const std::string& scope, std::vector<OnnxAttr> attributes, int outputs,
                                               const std::vector<std::string>& output_names) {
  onnx::NodeProto* node = graph_->add_node();
  const std::string name = unique_node_name(scope_path(scope) + "/" + op_type);
  node->set_name(name);
  node->set_op_type(op_type);
  for (const std::string& input : inputs) node->add_input(input);
  std::vector<std::string> names;
  if (!output_names.empty() && static_cast<int>(output_names.size()) != outputs) {
    fail_internal("ONNX node {}: {} output names for {} outputs", name, output_names.size(), outputs);
  }
  for (int i = 0; i < outputs; ++i) {
    names.push_back(output_names.empty() ? fmt::format("{}_output_{}", name, i)
                                         : output_names[static_cast<std::size_t>(i)]);
    node->add_output(names.back());
  }
  for (const OnnxAttr& attr : attributes) set_attribute(node->add_attribute(), attr);
  return names;
}

void OnnxGraphWriter::add_input(const std::string& name, const std::vector<OnnxDim>& dims) {
  onnx::ValueInfoProto* input = graph_->add_input();
  input->set_name(name);
  set_tensor_type(input, elem_type(), dims);
}

void OnnxGraphWriter::add_output(const std::string& name, const std::vector<OnnxDim>& dims) {
  onnx::ValueInfoProto* output = graph_->add_output();
  output->set_name(name);
  set_tensor_type(output, elem_type(), dims);
}

}  // namespace shrike::model
