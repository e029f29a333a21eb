// kernels/augment.cu: the CUDA augmentation ops of augment_cuda.h. One thread per
// output pixel (flips: per mirrored pair) in 2D grids (x: blocks of 256 pixels of an
// image, y: the image of the batch). The arithmetic is kernels/augment_pixel.h, shared
// with the CPU references, so the bytes are the same; tests/gpu/test_gpu_augment.cpp
// compares every op exactly.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/augment_cuda.h"
#include "kernels/augment_pixel.h"
#include "kernels/cuda_check.h"

namespace shrike::kernels {

namespace {

constexpr int kThreads = 256;

static_assert(sizeof(HsvTables) == 768, "HsvTables must be three packed 256-byte tables");

struct FloatMatrix {
  float m[9];
};

FloatMatrix to_float(const Matrix3& inverse) {
  FloatMatrix out;
  for (int i = 0; i < 9; ++i) out.m[i] = static_cast<float>(inverse[i]);
  return out;
}

// Blocks for `pixels` pixels per image times `count` images.
dim3 pixel_grid(std::size_t pixels, int count) {
  const std::size_t blocks = (pixels + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffffu || count > 65535) {
    throw std::invalid_argument("augment kernels: " + std::to_string(count) + " images of " +
                                std::to_string(pixels) + " pixels is beyond one launch");
  }
  return dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(count));
}

// Every block computes OpenCV's two HSV division tables into shared memory.
__device__ inline void load_hsv_div_tables(int* sdiv, int* hdiv180) {
  for (int i = threadIdx.x; i < 256; i += blockDim.x) {
    sdiv[i] = pixel::hsv_sdiv(i);
    hdiv180[i] = pixel::hsv_hdiv180(i);
  }
}

// ---- single ops -----------------------------------------------------------------------------------

__global__ void warp_kernel(std::uint8_t* dst, ImageShape dst_shape, const std::uint8_t* src, ImageShape src_shape,
                            FloatMatrix m, bool perspective, std::uint8_t border) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<std::size_t>(dst_shape.height) * dst_shape.width) return;
  const int x = static_cast<int>(i % dst_shape.width), y = static_cast<int>(i / dst_shape.width);
  pixel::warp_pixel(dst + i * 3, src, src_shape.height, src_shape.width, m.m, perspective, border, x, y);
}

__global__ void hsv_kernel(std::uint8_t* images, std::size_t pixels, const HsvTables* tables) {
  __shared__ int sdiv[256], hdiv180[256];
  __shared__ std::uint8_t lut[768];
  load_hsv_div_tables(sdiv, hdiv180);
  const auto* table = reinterpret_cast<const std::uint8_t*>(tables + blockIdx.y);
  for (int k = threadIdx.x; k < 768; k += blockDim.x) lut[k] = table[k];
  __syncthreads();
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= pixels) return;
  std::uint8_t* p = images + (static_cast<std::size_t>(blockIdx.y) * pixels + i) * 3;
  std::uint8_t rgb[3] = {p[0], p[1], p[2]};
  pixel::hsv_jitter_pixel(rgb, lut, lut + 256, lut + 512, sdiv, hdiv180);
  pixel::copy3(p, rgb);
}

__device__ inline void swap3(std::uint8_t* a, std::uint8_t* b) {
  for (int c = 0; c < 3; ++c) {
    const std::uint8_t t = a[c];
    a[c] = b[c];
    b[c] = t;
  }
}

// One thread per pixel of the first half (columns x < width / 2, or rows y < height / 2).
__global__ void flip_lr_kernel(std::uint8_t* images, int height, int width) {
  const int half = width / 2;
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<std::size_t>(height) * half) return;
  const int x = static_cast<int>(i % half), y = static_cast<int>(i / half);
  std::uint8_t* row = images + (static_cast<std::size_t>(blockIdx.y) * height + y) * width * 3;
  swap3(row + static_cast<std::size_t>(x) * 3, row + static_cast<std::size_t>(width - 1 - x) * 3);
}

__global__ void flip_ud_kernel(std::uint8_t* images, int height, int width) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<std::size_t>(height / 2) * width) return;
  const int x = static_cast<int>(i % width), y = static_cast<int>(i / width);
  std::uint8_t* image = images + static_cast<std::size_t>(blockIdx.y) * height * width * 3;
  swap3(image + (static_cast<std::size_t>(y) * width + x) * 3,
        image + (static_cast<std::size_t>(height - 1 - y) * width + x) * 3);
}

__global__ void letterbox_kernel(std::uint8_t* dst, int out_h, int out_w, const std::uint8_t* src, int src_h,
                                 int src_w, int top, int left, int resized_h, int resized_w, std::uint8_t pad) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<std::size_t>(out_h) * out_w) return;
  const int x = static_cast<int>(i % out_w), y = static_cast<int>(i / out_w);
  pixel::letterbox_pixel(dst + i * 3, src, src_h, src_w, top, left, resized_h, resized_w, pad, x, y);
}

__global__ void mosaic_place_kernel(std::uint8_t* canvas, int s, const std::uint8_t* image, int w, MosaicTile t) {
  const int tile_w = t.x2a - t.x1a, tile_h = t.y2a - t.y1a;
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<std::size_t>(tile_h) * tile_w) return;
  const int x = static_cast<int>(i % tile_w), y = static_cast<int>(i / tile_w);
  pixel::copy3(canvas + (static_cast<std::size_t>(t.y1a + y) * (2 * s) + t.x1a + x) * 3,
               image + (static_cast<std::size_t>(t.y1b + y) * w + t.x1b + x) * 3);
}

__global__ void mixup_kernel(std::uint8_t* image, const std::uint8_t* partner, std::size_t bytes, double ratio) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < bytes) image[i] = pixel::mix_u8(image[i], partner[i], ratio);
}

// ---- the fused batch kernel ----------------------------------------------------------------------

__global__ void augment_batch_kernel(std::uint8_t* out, int size, const AugmentSample* samples,
                                     const std::uint8_t* sources) {
  __shared__ int sdiv[256], hdiv180[256];
  const AugmentSample& d = samples[blockIdx.y];
  if (d.hsv) {  // uniform across the block: every thread reaches the barrier or none
    load_hsv_div_tables(sdiv, hdiv180);
    __syncthreads();
  }
  const std::size_t pixels = static_cast<std::size_t>(size) * size;
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= pixels) return;
  const int x = static_cast<int>(i % size), y = static_cast<int>(i / size);
  std::uint8_t rgb[3];
  pixel::sample_pixel(rgb, d, sources, size, x, y, sdiv, hdiv180);
  pixel::copy3(out + (static_cast<std::size_t>(blockIdx.y) * pixels + i) * 3, rgb);
}

}  // namespace

// ---- launchers ------------------------------------------------------------------------------------

void warp_u8_cuda(std::uint8_t* dst, ImageShape dst_shape, const std::uint8_t* src, ImageShape src_shape,
                  const Matrix3& inverse, bool perspective, std::uint8_t border, cudaStream_t stream) {
  const std::size_t pixels = static_cast<std::size_t>(dst_shape.height) * dst_shape.width;
  if (pixels == 0) return;
  warp_kernel<<<pixel_grid(pixels, 1), kThreads, 0, stream>>>(dst, dst_shape, src, src_shape, to_float(inverse),
                                                              perspective, border);
  CUDA_CHECK_LAUNCH("warp_kernel");
}

void hsv_jitter_u8_cuda(std::uint8_t* images, int count, int height, int width, const HsvTables* tables,
                        cudaStream_t stream) {
  const std::size_t pixels = static_cast<std::size_t>(height) * width;
  if (pixels == 0 || count <= 0) return;
  hsv_kernel<<<pixel_grid(pixels, count), kThreads, 0, stream>>>(images, pixels, tables);
  CUDA_CHECK_LAUNCH("hsv_kernel");
}

void flip_lr_u8_cuda(std::uint8_t* images, int count, int height, int width, cudaStream_t stream) {
  const std::size_t pairs = static_cast<std::size_t>(height) * (width / 2);
  if (pairs == 0 || count <= 0) return;
  flip_lr_kernel<<<pixel_grid(pairs, count), kThreads, 0, stream>>>(images, height, width);
  CUDA_CHECK_LAUNCH("flip_lr_kernel");
}

void flip_ud_u8_cuda(std::uint8_t* images, int count, int height, int width, cudaStream_t stream) {
  const std::size_t pairs = static_cast<std::size_t>(height / 2) * width;
  if (pairs == 0 || count <= 0) return;
  flip_ud_kernel<<<pixel_grid(pairs, count), kThreads, 0, stream>>>(images, height, width);
  CUDA_CHECK_LAUNCH("flip_ud_kernel");
}

void letterbox_u8_cuda(std::uint8_t* dst, const LetterboxGeometry& g, const std::uint8_t* src, int src_h, int src_w,
                       std::uint8_t pad, cudaStream_t stream) {
  const std::size_t pixels = static_cast<std::size_t>(g.out_h) * g.out_w;
  if (pixels == 0) return;
  letterbox_kernel<<<pixel_grid(pixels, 1), kThreads, 0, stream>>>(dst, g.out_h, g.out_w, src, src_h, src_w, g.top,
                                                                   g.left, g.resized_h, g.resized_w, pad);
  CUDA_CHECK_LAUNCH("letterbox_kernel");
}

void mosaic_place_u8_cuda(std::uint8_t* canvas, int s, const std::uint8_t* image, int h, int w,
                          const MosaicTile& tile, cudaStream_t stream) {
  (void)h;
  const int tile_w = tile.x2a - tile.x1a, tile_h = tile.y2a - tile.y1a;
  if (tile_w <= 0 || tile_h <= 0) return;
  const std::size_t pixels = static_cast<std::size_t>(tile_h) * tile_w;
  mosaic_place_kernel<<<pixel_grid(pixels, 1), kThreads, 0, stream>>>(canvas, s, image, w, tile);
  CUDA_CHECK_LAUNCH("mosaic_place_kernel");
}

void mixup_u8_cuda(std::uint8_t* image, const std::uint8_t* partner, std::size_t bytes, double ratio,
                   cudaStream_t stream) {
  if (bytes == 0) return;
  mixup_kernel<<<pixel_grid(bytes, 1), kThreads, 0, stream>>>(image, partner, bytes, ratio);
  CUDA_CHECK_LAUNCH("mixup_kernel");
}

void augment_batch_u8_cuda(std::uint8_t* out, int batch, int size, const AugmentSample* samples,
                           const std::uint8_t* sources, cudaStream_t stream) {
  const std::size_t pixels = static_cast<std::size_t>(size) * size;
  if (pixels == 0 || batch <= 0) return;
  augment_batch_kernel<<<pixel_grid(pixels, batch), kThreads, 0, stream>>>(out, size, samples, sources);
  CUDA_CHECK_LAUNCH("augment_batch_kernel");
}

}  // namespace shrike::kernels
