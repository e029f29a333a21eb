// scheduler/instance_advice.h
//
// Which instance type to train on when the user did not say (`shrike submit` without
// --instance), by the rules users of the cloud platform know:
//   under 5,000 training images                 -> rtx4090  (RTX 4090, 24 GB)
//   5,000 to 50,000                             -> a100-40gb
//   more than 50,000, or a large batch per GPU  -> a100-80gb (h100-80gb for large models)
//   --budget                                    -> rtx3090  (the cheapest GPU)
// "Large batch": batch per GPU x (imgsz / 640)^2 of 64 or more (the activations of 64
// images at 640 do not fit 40 GB for the larger models). "Large model": 75 GFLOPs or
// more at 640 (yolov8m/yolo11m and up). A site catalogue without the recommended id gets
// the cheapest GPU type with at least as much memory. Every choice comes with the
// reasons, printed in the plan.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "accounting/instance_catalog.h"

namespace shrike::scheduler {

struct AdviceInput {
  std::size_t train_images = 0;
  int batch = 16;            // global batch
  int imgsz = 640;
  int gpus = 1;
  double gflops_640 = 8.7;   // the model's forward GFLOPs at 640 (model info)
  bool budget = false;
};

struct InstanceAdvice {
  std::string instance;              // a catalogue id
  std::vector<std::string> reasons;  // one line each, for the plan
};

InstanceAdvice recommend_instance(const AdviceInput& input, const accounting::InstanceCatalog& catalog);

}  // namespace shrike::scheduler
