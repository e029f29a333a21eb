// tests/gpu/emulator/emu_device.cpp: the device queries of kernels/device.h, answering "one emulated device".
#include "kernels/device.h"
namespace shrike::kernels {
int cuda_device_count() { return 1; }
std::string cuda_unavailable_reason() { return ""; }
std::string cuda_device_description(int) { return "CPU emulator (tests/gpu/emulator)"; }
}  // namespace shrike::kernels
