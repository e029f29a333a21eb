// kernels/resize_sampling.h
//
// The source coordinate and weight for one output coordinate, shared by resize_cpu.cpp
// and resize.cu (and the augmentation ops, augment_pixel.h) so both backends compute
// bit-identical results: every float operation is rounded on its own (exact_float.h).
// OpenCV INTER_LINEAR: src = (dst + 0.5) * scale - 0.5, clamped at the borders.
#pragma once

#include <math.h>

#include "kernels/exact_float.h"

namespace shrike::kernels {

struct LinearTap {
  int index0;     // first source sample
  int index1;     // second source sample (== index0 at the borders)
  float weight1;  // weight of index1; index0 gets 1 - weight1
};

SHRIKE_HOST_DEVICE inline LinearTap linear_tap(int dst_index, int src_size, int dst_size) {
  const float scale = div_rn(static_cast<float>(src_size), static_cast<float>(dst_size));
  const float position = sub_rn(mul_rn(add_rn(static_cast<float>(dst_index), 0.5f), scale), 0.5f);
  int index = static_cast<int>(floorf(position));
  float weight = sub_rn(position, static_cast<float>(index));
  if (index < 0) {
    index = 0;
    weight = 0.0f;
  }
  if (index >= src_size - 1) {
    index = src_size - 1;
    weight = 0.0f;
  }
  int next = index + 1 < src_size ? index + 1 : index;
  return {index, next, weight};
}

// Bilinear blend of four samples, rounded to the nearest 8-bit value.
SHRIKE_HOST_DEVICE inline unsigned char blend_u8(float top_left, float top_right, float bottom_left,
                                                 float bottom_right, float wx, float wy) {
  const float top = add_rn(top_left, mul_rn(sub_rn(top_right, top_left), wx));
  const float bottom = add_rn(bottom_left, mul_rn(sub_rn(bottom_right, bottom_left), wx));
  float value = add_rn(add_rn(top, mul_rn(sub_rn(bottom, top), wy)), 0.5f);
  if (value < 0.0f) value = 0.0f;
  if (value > 255.0f) value = 255.0f;
  return static_cast<unsigned char>(value);
}

}  // namespace shrike::kernels
