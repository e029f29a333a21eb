// pipeline/model/modules.h
//
// The YOLO building blocks as functions that append primitive ops through a
// GraphBuilder, following the Ultralytics modules (nn/modules/block.py, conv.py,
// head.py) so that parameter names and shapes match its state dict:
//   Conv = Conv2d (no bias) + BatchNorm2d + SiLU;  DWConv = Conv with g = gcd(c1, c2)
//   Bottleneck, C2f, C3, C3k, C3k2, SPPF, C2PSA (PSABlock, Attention), Detect.
// Each takes the input tensor and the module's state-dict prefix ("model.4") and
// returns its output tensor.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "pipeline/model/graph_builder.h"

namespace shrike::model {

int conv_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int k = 1, int s = 1, int g = 1,
                bool act = true);
int dwconv_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int k = 1, int s = 1, bool act = true);
// Bottleneck(c1, c2, shortcut, g, k=(k0, k1), e).
int bottleneck_module(GraphBuilder& b, int x, const std::string& prefix, int c2, bool shortcut, int g, int k0, int k1,
                      double e);
int c2f_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int n, bool shortcut, double e);
// C3 (Bottlenecks with k = (1, 3)) or, with `c3k_kernel` > 0, C3k (k = (c3k_kernel, c3k_kernel)).
int c3_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int n, bool shortcut, double e,
              int c3k_kernel = 0);
int c3k2_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int n, bool c3k, double e, bool shortcut);
int sppf_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int k);
int c2psa_module(GraphBuilder& b, int x, const std::string& prefix, int c2, int n, double e);

// Detect: per level a box branch (-> 4 * reg_max channels) and a class branch
// (-> nc), concatenated: raw maps (B, 4 * reg_max + nc, h, w). `dwconv_class_branch`
// is YOLO11's class branch (DWConv + Conv pairs); v8 uses plain 3x3 Convs.
// Declares the frozen DFL weight.
std::vector<int> detect_module(GraphBuilder& b, const std::vector<int>& inputs, const std::string& prefix, int nc,
                               bool dwconv_class_branch);

inline constexpr int kRegMax = 16;

}  // namespace shrike::model
