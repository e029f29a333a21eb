// kernels/nms_cuda.h
//
// CUDA twin of nms.h's non_max_suppression_cpu: the validation NMS over the decoded head
// output on the device (kernels/detect_decode_cuda.h), with the CPU reference's exact
// results (same boxes, same order, same float arithmetic). Steps on the device:
// candidates by an order-preserving compaction (flags, prefix sum, scatter), one stable
// radix sort of (image, score descending) for the whole batch, then per image the
// torchvision CUDA NMS scheme (IoU bitmask of 64-box blocks over the first max_nms
// candidates, then the greedy pass over the mask in one block, stopping after max_det
// kept boxes, which changes nothing in the first max_det).
#pragma once

#include <cuda_runtime.h>

#include <vector>

#include "kernels/nms_types.h"

namespace shrike::kernels {

// predictions_device: device (batch, num_anchors, 4 + nc) rows [cx, cy, w, h, scores...].
// Returns one vector per image, on the host. SYNCHRONISES `stream` twice (the per-image
// candidate counts size the masks; the results come back) and allocates its scratch
// with cudaMalloc (freed before returning), so it is not for graph capture.
// Throws std::invalid_argument when batch * num_anchors * (slots per anchor) exceeds
// 2^31 - 1 or an image has more than 393216 boxes into the greedy pass (max_nms).
std::vector<std::vector<Detection>> non_max_suppression_cuda(const float* predictions_device, int batch,
                                                             int num_anchors, int nc, const NmsConfig& config,
                                                             cudaStream_t stream);

}  // namespace shrike::kernels
