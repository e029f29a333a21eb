# Decides whether the CUDA backend is built (SHRIKE_CUDA = AUTO | ON | OFF) and finds
# the CUDA toolkit, cuDNN and NCCL. Sets SHRIKE_HAVE_CUDA.
# Default architectures: the instance catalogue's GPUs (A100 sm_80, RTX 3090 sm_86,
# RTX 4090 / L40S sm_89, H100 sm_90); CI passes one (-DCMAKE_CUDA_ARCHITECTURES=80).
set(SHRIKE_HAVE_CUDA OFF)
if(NOT SHRIKE_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 86 89 90)
    endif()
    enable_language(CUDA)
    set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 does not know C++20 flags for nvcc 13
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    find_package(CUDAToolkit REQUIRED)
    find_package(CUDNN)
    find_package(NCCL)
    if(CUDNN_FOUND AND NCCL_FOUND)
      set(SHRIKE_HAVE_CUDA ON)
    elseif(SHRIKE_CUDA STREQUAL "ON")
      message(FATAL_ERROR "SHRIKE_CUDA=ON but cuDNN (found: ${CUDNN_FOUND}) or NCCL "
                          "(found: ${NCCL_FOUND}) is missing. Install them next to the CUDA "
                          "toolkit, set CUDNN_ROOT / NCCL_ROOT, or configure with -DSHRIKE_CUDA=OFF.")
    endif()
  elseif(SHRIKE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "SHRIKE_CUDA=ON but no CUDA compiler was found. Install the CUDA "
                        "toolkit (nvcc), pass -DCMAKE_CUDA_COMPILER=/path/to/nvcc, or "
                        "configure with -DSHRIKE_CUDA=OFF.")
  endif()
endif()
if(SHRIKE_HAVE_CUDA)
  message(STATUS "shrike: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, cuDNN "
                 "${CUDNN_VERSION}, NCCL ${NCCL_VERSION}, archs ${CMAKE_CUDA_ARCHITECTURES})")
else()
  message(STATUS "shrike: CUDA backend OFF (CPU only)")
endif()
