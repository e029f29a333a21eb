// pipeline/model/bn_folding.cpp: BatchNorm folded into the preceding convolution.
#include "pipeline/model/bn_folding.h"

#include <cmath>

#include "pipeline/core/error.h"

namespace shrike::model {

FoldedConv fold_batchnorm(std::span<const float> weight, std::span<const float> conv_bias, const BatchNormState& bn) {
  const std::size_t out_channels = bn.gamma.size();
  if (out_channels == 0 || weight.size() % out_channels != 0 || bn.beta.size() != out_channels ||
      bn.running_mean.size() != out_channels || bn.running_var.size() != out_channels ||
      (!conv_bias.empty() && conv_bias.size() != out_channels)) {
    fail_internal("fold_batchnorm: {} weights, {} conv biases for {} BatchNorm channels", weight.size(),
                  conv_bias.size(), out_channels);
  }
  const std::size_t per_channel = weight.size() / out_channels;
  FoldedConv folded;
  folded.weight.resize(weight.size());
  folded.bias.resize(out_channels);
  for (std::size_t o = 0; o < out_channels; ++o) {
    const double scale = static_cast<double>(bn.gamma[o]) / std::sqrt(static_cast<double>(bn.running_var[o]) + bn.eps);
    for (std::size_t k = 0; k < per_channel; ++k) {
      folded.weight[o * per_channel + k] = static_cast<float>(weight[o * per_channel + k] * scale);
    }
    const double b = conv_bias.empty() ? 0.0 : conv_bias[o];
    folded.bias[o] = static_cast<float>(bn.beta[o] + (b - bn.running_mean[o]) * scale);
  }
  return folded;
}

}  // namespace shrike::model
