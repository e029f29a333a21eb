// pipeline/model/onnx_graph_writer.h
//
// A thin layer over libonnx's protobuf classes (onnx::GraphProto) that the exporter
// writes through: nodes with unique names in the PyTorch exporter's style
// ("/model.2/cv1/conv/Conv", outputs "<node>_output_0"), attributes, initializers and
// the graph's inputs and outputs. It owns the element type of the exported network:
// float32, or float16 with --half (weights and activations alike; tensors that ONNX
// requires in float32 or int64, as Resize's scales or Reshape's shape, stay so).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace shrike::model {

// One node attribute.
struct OnnxAttr {
  std::string name;
  std::variant<std::int64_t, float, std::string, std::vector<std::int64_t>> value;
};

// A graph input or output dimension: a size or a symbolic name ("batch").
using OnnxDim = std::variant<std::int64_t, std::string>;

class OnnxGraphWriter {
 public:
  OnnxGraphWriter(onnx::GraphProto* graph, bool half);

  bool half() const { return half_; }
  // The element type of activations and float weights: FLOAT or FLOAT16.
  int elem_type() const;

  // Initializers. float_weight is stored in the element type; the others as named.
  std::string float_weight(const std::string& name, const std::vector<std::int64_t>& dims,
                           std::span<const float> values);
  std::string float32_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                             std::span<const float> values);
  std::string int64_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                           std::span<const std::int64_t> values);
  // Shared constants (one initializer per distinct value): a scalar in the element
  // type, a float32 scalar, a 1-D int64 list.
  std::string scalar(float value);
  std::string float32_scalar(float value);
  std::string int64s(const std::vector<std::int64_t>& values);
  std::string int64_scalar(std::int64_t value);  // 0-D (Gather indices that drop the axis)

  // Appends a node; returns its outputs. `scope` is the node's module path
  // ("model.2.cv1.conv" -> "/model.2/cv1/conv/<op>"). An empty input name is an
  // omitted optional input.
  // `output_names` names the outputs instead (a graph output such as "output0").
  std::vector<std::string> node(const std::string& op, const std::vector<std::string>& inputs, const std::string& scope,
                                std::vector<OnnxAttr> attributes = {}, int outputs = 1,
                                const std::vector<std::string>& output_names = {});
  std::string op(const std::string& op, const std::vector<std::string>& inputs, const std::string& scope,
                 std::vector<OnnxAttr> attributes = {}) {
    return node(op, inputs, scope, std::move(attributes), 1).front();
  }

  void add_input(const std::string& name, const std::vector<OnnxDim>& dims);
  // Declares graph output `name` (a node's output named so through output_names).
  void add_output(const std::string& name, const std::vector<OnnxDim>& dims);

 private:
  std::string unique_node_name(const std::string& base);

  onnx::GraphProto* graph_;
  bool half_;
  std::set<std::string> node_names_;
  std::set<std::string> initializer_names_;
  std::map<std::string, std::string> constants_;  // key -> initializer name
};

}  // namespace shrike::model
