// kernels/augment_cuda.h
//
// CUDA twins of the augmentation pixel ops of kernels/augment.h (warp, HSV jitter,
// flips, letterbox, mosaic tile placement, mixup), and one fused kernel that builds a
// whole batch of training images from their source images and per-sample parameters
// (augment_batch_u8_cuda), so the GPU data path makes each output pixel in one pass
// without (2s, 2s) mosaic canvases in memory. Every op gives the CPU reference's bytes
// exactly: the per-pixel arithmetic is kernels/augment_pixel.h, shared with the CPU
// code. Images are uint8 HWC RGB in device memory; every call is queued on `stream`
// and never synchronises.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/augment.h"
#include "kernels/augment_pixel.h"

namespace shrike::kernels {

// ---- the single ops (contracts as in augment.h) ---------------------------------------------

// dst (dst_shape) = src (src_shape) warped by `inverse` (output -> source), border `border`.
void warp_u8_cuda(std::uint8_t* dst, ImageShape dst_shape, const std::uint8_t* src, ImageShape src_shape,
                  const Matrix3& inverse, bool perspective, std::uint8_t border, cudaStream_t stream);

// `count` images of (height, width, 3), back to back, in place; image i uses tables[i]
// (`tables`: device memory, `count` entries).
void hsv_jitter_u8_cuda(std::uint8_t* images, int count, int height, int width, const HsvTables* tables,
                        cudaStream_t stream);

// `count` images of (height, width, 3), back to back, each mirrored in place.
void flip_lr_u8_cuda(std::uint8_t* images, int count, int height, int width, cudaStream_t stream);
void flip_ud_u8_cuda(std::uint8_t* images, int count, int height, int width, cudaStream_t stream);

// dst (geometry.out_h, geometry.out_w, 3) = src (src_h, src_w, 3) resized and padded.
void letterbox_u8_cuda(std::uint8_t* dst, const LetterboxGeometry& geometry, const std::uint8_t* src, int src_h,
                       int src_w, std::uint8_t pad, cudaStream_t stream);

// Copies `tile`'s rectangle of image (h, w, 3) into canvas (2s, 2s, 3); the rest of the
// canvas is left as it is.
void mosaic_place_u8_cuda(std::uint8_t* canvas, int s, const std::uint8_t* image, int h, int w,
                          const MosaicTile& tile, cudaStream_t stream);

// image[i] = uint8(image[i] * ratio + partner[i] * (1 - ratio)) for i < bytes (MixUp).
void mixup_u8_cuda(std::uint8_t* image, const std::uint8_t* partner, std::size_t bytes, double ratio,
                   cudaStream_t stream);

// ---- the fused batch kernel -------------------------------------------------------------------

// AugmentSample (one training image's parameters) and its sources: augment_pixel.h.
// out: (batch, size, size, 3) uint8; samples: device memory, `batch` entries; sources:
// device memory holding every source image the samples name. Equal, byte for byte, to
// executing each sample with the CPU ops in the order above.
void augment_batch_u8_cuda(std::uint8_t* out, int batch, int size, const AugmentSample* samples,
                           const std::uint8_t* sources, cudaStream_t stream);

}  // namespace shrike::kernels
