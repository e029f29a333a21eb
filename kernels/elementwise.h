// kernels/elementwise.h
//
// The data-movement and pointwise ops the graph needs between convolutions:
// add (residuals), channel-slice copies (concat writes each input into a channel
// range of the output; split reads ranges out), and accumulate (where gradient
// paths meet). Shapes are NCHW; a channel range of an (N, C, H, W) tensor is
// N strided blocks of (range * H * W) floats.
#pragma once

#include <cstddef>

#include "kernels/tensor.h"

namespace shrike::kernels {

// out = a + b, (n) contiguous.
void add_cpu(float* out, const float* a, const float* b, std::size_t n);
// acc += x, (n) contiguous.
void accumulate_cpu(float* acc, const float* x, std::size_t n);
// out = x * scale, (n) contiguous.
void scale_cpu(float* out, const float* x, float scale, std::size_t n);

// Copies all channels of src (N, Cs, H, W) into channels [offset, offset + Cs) of
// dst (N, Cd, H, W).
void copy_into_channels_cpu(float* dst, int dst_channels, int offset, const float* src, Shape4 src_shape);
// Copies channels [offset, offset + Cd) of src (N, Cs, H, W) into dst (N, Cd, H, W).
void copy_from_channels_cpu(float* dst, Shape4 dst_shape, const float* src, int src_channels, int offset);
// Adds channels [offset, offset + Cd) of src into dst (N, Cd, H, W).
void accumulate_from_channels_cpu(float* dst, Shape4 dst_shape, const float* src, int src_channels, int offset);

// The two copies on NHWC tensors (kernels/layout.h): per pixel, a run of channels.
void copy_into_channels_nhwc_cpu(float* dst, int dst_channels, int offset, const float* src, Shape4 src_shape);
void copy_from_channels_nhwc_cpu(float* dst, Shape4 dst_shape, const float* src, int src_channels, int offset);

}  // namespace shrike::kernels
