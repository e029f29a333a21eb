// pipeline/model/bn_folding.h
//
// Folding an eval-mode BatchNorm2d into the convolution before it, as every exporter
// does (the reference's fuse_conv_and_bn): for output channel o with
// s_o = gamma_o / sqrt(running_var_o + eps),
//   W'[o] = W[o] * s_o,   b'_o = beta_o + (b_o - running_mean_o) * s_o   (b_o = 0 without bias).
// Computed in double and rounded once to float, so the folded convolution differs
// from conv-then-BN by float32 rounding only.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace shrike::model {

struct FoldedConv {
  std::vector<float> weight;  // (O, I/g, kh, kw), as the input weight
  std::vector<float> bias;    // (O)
};

struct BatchNormState {
  std::span<const float> gamma, beta, running_mean, running_var;  // (O) each
  float eps = 1e-3f;
};

// weight: (O, ...) with `weight.size() / O` elements per output channel; conv_bias
// empty when the convolution has none.
FoldedConv fold_batchnorm(std::span<const float> weight, std::span<const float> conv_bias, const BatchNormState& bn);

}  // namespace shrike::model
