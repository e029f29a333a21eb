// kernels/nms_types.h
//
// The plain structs of the validation NMS, shared by the CPU reference (nms.h) and the
// CUDA twin (nms_cuda.h): one kept box and the NMS settings. Kept apart from nms.h
// because that header's functions take std::span (C++20), while the CUDA sources
// compile as C++17 (see cmake/ShrikeCuda.cmake) and still need these types.
#pragma once

namespace shrike::kernels {

// One kept box: corners in input pixels, its class score and class index.
struct Detection {
  float x1, y1, x2, y2, score;
  int cls;
};

struct NmsConfig {
  float conf_thres = 0.001f;   // score > conf_thres to be a candidate
  double iou_thres = 0.7;      // suppress when IoU > iou_thres
  int max_det = 300;           // kept boxes per image
  int max_nms = 30000;         // candidates into the greedy pass
  float max_wh = 7680.0f;      // class offset
  bool multi_label = true;     // the validator's setting (forced off when nc == 1)
  bool agnostic = false;       // true: one class for suppression (single_cls / agnostic_nms)
};

}  // namespace shrike::kernels
