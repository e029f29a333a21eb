// pipeline/model/modules.cpp: the YOLO modules as op sequences (see modules.h).
#include "pipeline/model/modules.h"

#include <algorithm>
#include <numeric>

#include "pipeline/core/error.h"

namespace shrike::model {

int conv_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int k, int s, int g, bool act) {
  int y = b.conv2d(x, prefix + ".conv", c2, k, s, -1, g, false);
  y = b.batchnorm(y, prefix + ".bn");
  return act ? b.silu(y, prefix + ".act") : y;
}

int dwconv_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int k, int s, bool act) {
  return conv_module(b, x, prefix, c2, k, s, std::gcd(b.channels(x), c2), act);
}

int bottleneck_module(GraphBuilder& b, int x, const std::string& prefix, int c2, bool shortcut, int g, int k0, int k1,
                      double e) {
  const int c1 = b.channels(x);
  const int hidden = static_cast<int>(c2 * e);
  int y = conv_module(b, x, prefix + ".cv1", hidden, k0, 1);
  y = conv_module(b, y, prefix + ".cv2", c2, k1, 1, g);
  return (shortcut && c1 == c2) ? b.add(x, y, prefix) : y;
}

namespace {

// The C2f skeleton shared by C2f and C3k2: cv1 to 2c channels, split in halves, each
// inner block applied to the last piece, all pieces concatenated, cv2.
template <typename Inner>
int c2f_skeleton(GraphBuilder& b, int x, const std::string& prefix, int c2, int n, double e, Inner inner) {
  const int c = static_cast<int>(c2 * e);
  int y = conv_module(b, x, prefix + ".cv1", 2 * c, 1, 1);
  std::vector<int> pieces = b.split(y, {c, c}, prefix + ".split");
  for (int i = 0; i < n; ++i) pieces.push_back(inner(pieces.back(), prefix + ".m." + std::to_string(i), c));
  int joined = b.concat(pieces, prefix + ".cat");
  return conv_module(b, joined, prefix + ".cv2", c2, 1, 1);
}

}  // namespace

int c2f_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int n, bool shortcut, double e) {
  return c2f_skeleton(b, x, prefix, c2, n, e, [&](int piece, const std::string& name, int c) {
    return bottleneck_module(b, piece, name, c, shortcut, 1, 3, 3, 1.0);
  });
}

int c3_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int n, bool shortcut, double e,
              int c3k_kernel) {
  const int hidden = static_cast<int>(c2 * e);
  int y = conv_module(b, x, prefix + ".cv1", hidden, 1, 1);
  for (int i = 0; i < n; ++i) {
    const std::string name = prefix + ".m." + std::to_string(i);
    y = c3k_kernel > 0 ? bottleneck_module(b, y, name, hidden, shortcut, 1, c3k_kernel, c3k_kernel, 1.0)
                       : bottleneck_module(b, y, name, hidden, shortcut, 1, 1, 3, 1.0);
  }
  int side = conv_module(b, x, prefix + ".cv2", hidden, 1, 1);
  int joined = b.concat({y, side}, prefix + ".cat");
  return conv_module(b, joined, prefix + ".cv3", c2, 1, 1);
}

int c3k2_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int n, bool c3k, double e, bool shortcut) {
  return c2f_skeleton(b, x, prefix, c2, n, e, [&](int piece, const std::string& name, int c) {
    return c3k ? c3_module(b, piece, name, c, 2, shortcut, 0.5, 3)
               : bottleneck_module(b, piece, name, c, shortcut, 1, 3, 3, 0.5);
  });
}

int sppf_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int k) {
  const int hidden = b.channels(x) / 2;
  std::vector<int> pieces{conv_module(b, x, prefix + ".cv1", hidden, 1, 1)};
  for (int i = 0; i < 3; ++i) pieces.push_back(b.maxpool(pieces.back(), k, 1, k / 2, prefix + ".m"));
  int joined = b.concat(pieces, prefix + ".cat");
  return conv_module(b, joined, prefix + ".cv2", c2, 1, 1);
}

namespace {

// Ultralytics Attention(dim, num_heads, attn_ratio=0.5): qkv 1x1 Conv (no act),
// the attention core, + pe (depthwise 3x3 Conv on v, no act), proj 1x1 Conv (no act).
int attention_module(GraphBuilder& b, int x, const std::string& prefix, int heads) {
  const int dim = b.channels(x);
  const int head_dim = dim / heads;
  const int key_dim = static_cast<int>(head_dim * 0.5);
  int qkv = conv_module(b, x, prefix + ".qkv", dim + 2 * key_dim * heads, 1, 1, 1, false);
  auto [out, v_image] = b.attention(qkv, heads, key_dim, head_dim, prefix);
  int pe = conv_module(b, v_image, prefix + ".pe", dim, 3, 1, dim, false);
  int sum = b.add(out, pe, prefix);
  return conv_module(b, sum, prefix + ".proj", dim, 1, 1, 1, false);
}

// PSABlock(c, attn_ratio=0.5, num_heads, shortcut=True).
int psa_block(GraphBuilder& b, int x, const std::string& prefix, int heads) {
  const int c = b.channels(x);
  int y = b.add(x, attention_module(b, x, prefix + ".attn", heads), prefix);
  int f = conv_module(b, y, prefix + ".ffn.0", 2 * c, 1, 1);
  f = conv_module(b, f, prefix + ".ffn.1", c, 1, 1, 1, false);
  return b.add(y, f, prefix);
}

}  // namespace

int c2psa_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int n, double e) {
  const int c1 = b.channels(x);
  if (c1 != c2) fail_user("{}: C2PSA needs equal input and output channels, got {} and {}", prefix, c1, c2);
  const int c = static_cast<int>(c1 * e);
  if (c < 64) fail_user("{}: C2PSA with {} hidden channels has no attention head (needs 64 per head)", prefix, c);
  int y = conv_module(b, x, prefix + ".cv1", 2 * c, 1, 1);
  std::vector<int> halves = b.split(y, {c, c}, prefix + ".split");
  int tail = halves[1];
  for (int i = 0; i < n; ++i) tail = psa_block(b, tail, prefix + ".m." + std::to_string(i), c / 64);
  int joined = b.concat({halves[0], tail}, prefix + ".cat");
  return conv_module(b, joined, prefix + ".cv2", c1, 1, 1);
}

std::vector<int> detect_module(GraphBuilder& b, const std::vector<int>& inputs, const std::string& prefix, int nc,
                               bool dwconv_class_branch) {
  const int first = b.channels(inputs.front());
  const int c2 = std::max({16, first / 4, 4 * kRegMax});
  const int c3 = std::max(first, std::min(nc, 100));
  std::vector<int> outputs;
  for (std::size_t level = 0; level < inputs.size(); ++level) {
    const int x = inputs[level];
    const std::string box = prefix + ".cv2." + std::to_string(level);
    const std::string cls = prefix + ".cv3." + std::to_string(level);
    int bx = conv_module(b, x, box + ".0", c2, 3);
    bx = conv_module(b, bx, box + ".1", c2, 3);
    bx = b.conv2d(bx, box + ".2", 4 * kRegMax, 1, 1, 0, 1, true);
    int cx = x;
    if (dwconv_class_branch) {
      cx = dwconv_module(b, cx, cls + ".0.0", b.channels(cx), 3);
      cx = conv_module(b, cx, cls + ".0.1", c3, 1);
      cx = dwconv_module(b, cx, cls + ".1.0", c3, 3);
      cx = conv_module(b, cx, cls + ".1.1", c3, 1);
    } else {
      cx = conv_module(b, cx, cls + ".0", c3, 3);
      cx = conv_module(b, cx, cls + ".1", c3, 3);
    }
    cx = b.conv2d(cx, cls + ".2", nc, 1, 1, 0, 1, true);
    outputs.push_back(b.concat({bx, cx}, prefix + ".cat." + std::to_string(level)));
  }
  b.declare_frozen(prefix + ".dfl.conv.weight", {1, kRegMax, 1, 1});
  return outputs;
}

}  // namespace shrike::model
