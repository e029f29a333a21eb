// kernels/exact_float.h
//
// Round-to-nearest float and double operations that no compiler contracts into a fused
// multiply-add: on the host the plain operators (the CPU build is -std=c++20, which keeps
// contraction off), on the device __fmul_rn & co, which nvcc never fuses. Kernels whose
// CPU and CUDA versions must give the same bits (resize, augmentation) write their float
// expressions with these.
#pragma once

#if defined(__CUDACC__)
#define SHRIKE_HOST_DEVICE __host__ __device__
#else
#define SHRIKE_HOST_DEVICE
#endif

namespace shrike::kernels {

SHRIKE_HOST_DEVICE inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
SHRIKE_HOST_DEVICE inline float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
SHRIKE_HOST_DEVICE inline float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
SHRIKE_HOST_DEVICE inline float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
SHRIKE_HOST_DEVICE inline double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
SHRIKE_HOST_DEVICE inline double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

}  // namespace shrike::kernels
