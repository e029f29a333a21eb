// pipeline/model/model_info.h
//
// What `shrike model info` prints: the layer table (index, from, repeats, parameters,
// module, resolved arguments, output shape), the parameter count (the reference's:
// trainable and frozen parameters, BatchNorm buffers excluded) and GFLOPs at an image
// size, counted as the reference's profiler counts them: 2 x the multiply-adds of
// every convolution (BatchNorm fused away; bias additions not counted); attention
// matrix products are not counted either (the profiler does not see them).
#pragma once

#include <string>

#include "pipeline/model/model.h"

namespace shrike::model {

// 2 x multiply-adds / 1e9 of one (1, 3, imgsz, imgsz) forward pass, reference-style.
double reference_gflops(Model& model, int imgsz);
std::string format_model_info(Model& model, int imgsz);

}  // namespace shrike::model
