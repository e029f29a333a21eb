// kernels/device.h
//
// What accelerators this process can use. Without a CUDA build, or on a machine
// without a driver or a GPU, cuda_device_count() is 0 and cuda_unavailable_reason()
// says why (GPU tests print it when they skip).
#pragma once

#include <string>

namespace shrike::kernels {

int cuda_device_count();
std::string cuda_unavailable_reason();
// "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)" for device `index`.
std::string cuda_device_description(int index);

}  // namespace shrike::kernels
