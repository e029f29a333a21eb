// pipeline/model/onnx_detect_head.cpp: the Detect decode as ONNX nodes (see
// onnx_detect_head.h), with fixed or shape-derived anchors.
#include "pipeline/model/onnx_detect_head.h"

#include <fmt/core.h>

namespace shrike::model {

namespace {

using Int64s = std::vector<std::int64_t>;

struct AnchorTensors {
  std::string anchors;  // (1, 2, A) in the element type
  std::string strides;  // (1, A)
};

// Fixed input size: the grid-cell centres (x + 0.5, y + 0.5) and strides, level by
// level, row-major within a level, written as initializers.
AnchorTensors fixed_anchors(OnnxGraphWriter& w, const DetectHeadExport& head) {
  std::vector<float> xs, ys, strides;
  for (std::size_t l = 0; l < head.shapes.size(); ++l) {
    for (int y = 0; y < head.shapes[l].h; ++y) {
      for (int x = 0; x < head.shapes[l].w; ++x) {
        xs.push_back(static_cast<float>(x) + 0.5f);
        ys.push_back(static_cast<float>(y) + 0.5f);
        strides.push_back(static_cast<float>(head.strides[l]));
      }
    }
  }
  const auto count = static_cast<std::int64_t>(xs.size());
  std::vector<float> anchors = xs;
  anchors.insert(anchors.end(), ys.begin(), ys.end());
  return {w.float_weight("/" + head.scope + "/anchors", {1, 2, count}, anchors),
          w.float_weight("/" + head.scope + "/strides", {1, count}, strides)};
}

// Dynamic input size: per level, from the map's (h, w): Range gives the centres along
// each axis, Expand makes the (h, w) grids, flattened row-major. Computed in float32
// (Range has no float16 kernel) and cast to the element type at the end.
AnchorTensors dynamic_anchors(OnnxGraphWriter& w, const DetectHeadExport& head) {
  const std::string scope = head.scope + ".anchors";
  std::vector<std::string> anchor_levels, stride_levels;
  const std::string half_cell = w.float32_scalar(0.5f), one = w.float32_scalar(1.0f);
  for (std::size_t l = 0; l < head.maps.size(); ++l) {
    const std::string shape = w.op("Shape", {head.maps[l]}, scope);
    auto axis_centres = [&](std::int64_t axis) {  // (n,): 0.5, 1.5, ..., n - 0.5
      const std::string size = w.op("Gather", {shape, w.int64_scalar(axis)}, scope, {{"axis", std::int64_t{0}}});
      const std::string as_float = w.op("Cast", {size}, scope, {{"to", std::int64_t{onnx::TensorProto::FLOAT}}});
      return w.op("Range", {half_cell, w.op("Add", {as_float, half_cell}, scope), one}, scope);
    };
    const std::string sx = axis_centres(3), sy = axis_centres(2);
    const std::string grid_shape = w.op("Slice", {shape, w.int64s({2}), w.int64s({4}), w.int64s({0})}, scope);
    const std::string gx = w.op("Expand", {w.op("Unsqueeze", {sx, w.int64s({0})}, scope), grid_shape}, scope);
    const std::string gy = w.op("Expand", {w.op("Unsqueeze", {sy, w.int64s({1})}, scope), grid_shape}, scope);
    const std::string fx = w.op("Reshape", {gx, w.int64s({1, -1})}, scope);
    const std::string fy = w.op("Reshape", {gy, w.int64s({1, -1})}, scope);
    anchor_levels.push_back(w.op("Concat", {fx, fy}, scope, {{"axis", std::int64_t{0}}}));
    const float stride = static_cast<float>(head.strides[l]);
    const std::string stride_value =
        w.float32_tensor(fmt::format("/{}/stride_{}", head.scope, l), {1, 1}, std::span<const float>(&stride, 1));
    stride_levels.push_back(w.op("Expand", {stride_value, w.op("Shape", {fx}, scope)}, scope));
  }
  std::string anchors = w.op("Concat", anchor_levels, scope, {{"axis", std::int64_t{1}}});
  anchors = w.op("Unsqueeze", {anchors, w.int64s({0})}, scope);
  std::string strides = w.op("Concat", stride_levels, scope, {{"axis", std::int64_t{1}}});
  if (w.half()) {
    anchors = w.op("Cast", {anchors}, scope, {{"to", std::int64_t{w.elem_type()}}});
    strides = w.op("Cast", {strides}, scope, {{"to", std::int64_t{w.elem_type()}}});
  }
  return {anchors, strides};
}

// DFL: (B, 4 * reg_max, A) bin logits -> (B, 4, A) expected distances.
std::string dfl_expectation(OnnxGraphWriter& w, const DetectHeadExport& head, const std::string& box) {
  const std::string scope = head.scope + ".dfl";
  const std::int64_t bins = head.reg_max;
  std::string x = w.op("Reshape", {box, w.int64s({0, 4, bins, -1})}, scope);
  x = w.op("Transpose", {x}, scope, {{"perm", Int64s{0, 2, 1, 3}}});
  x = w.op("Softmax", {x}, scope, {{"axis", std::int64_t{1}}});
  const std::string weight = w.float_weight(head.scope + ".dfl.conv.weight", {1, bins, 1, 1}, head.dfl_weight);
  x = w.op("Conv", {x, weight}, scope + ".conv",
           {{"dilations", Int64s{1, 1}},
            {"group", std::int64_t{1}},
            {"kernel_shape", Int64s{1, 1}},
            {"pads", Int64s{0, 0, 0, 0}},
            {"strides", Int64s{1, 1}}});
  return w.op("Reshape", {x, w.int64s({0, 4, -1})}, scope);
}

}  // namespace

void append_detect_decode(OnnxGraphWriter& w, const DetectHeadExport& head, const std::string& output_name) {
  const std::string& scope = head.scope;
  const std::int64_t channels = 4 * head.reg_max + head.nc;
  std::vector<std::string> flat;
  for (const std::string& map : head.maps) flat.push_back(w.op("Reshape", {map, w.int64s({0, channels, -1})}, scope));
  const std::string x = w.op("Concat", flat, scope, {{"axis", std::int64_t{2}}});
  const auto parts = w.node("Split", {x, w.int64s({4 * head.reg_max, head.nc})}, scope, {{"axis", std::int64_t{1}}}, 2);
  const std::string dist = dfl_expectation(w, head, parts[0]);
  const AnchorTensors anchors = head.dynamic ? dynamic_anchors(w, head) : fixed_anchors(w, head);
  const auto sides = w.node("Split", {dist, w.int64s({2, 2})}, scope, {{"axis", std::int64_t{1}}}, 2);
  const std::string x1y1 = w.op("Sub", {anchors.anchors, sides[0]}, scope);
  const std::string x2y2 = w.op("Add", {anchors.anchors, sides[1]}, scope);
  const std::string centre = w.op("Div", {w.op("Add", {x1y1, x2y2}, scope), w.scalar(2.0f)}, scope);
  const std::string size = w.op("Sub", {x2y2, x1y1}, scope);
  const std::string xywh_grid = w.op("Concat", {centre, size}, scope, {{"axis", std::int64_t{1}}});
  const std::string xywh = w.op("Mul", {xywh_grid, anchors.strides}, scope);
  const std::string scores = w.op("Sigmoid", {parts[1]}, scope);
  w.node("Concat", {xywh, scores}, scope, {{"axis", std::int64_t{1}}}, 1, {output_name});
}

}  // namespace shrike::model
