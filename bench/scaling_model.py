#!/usr/bin/env python3
"""bench/scaling_model.py SHRIKE: the paper scaling figures of data parallelism.

Measured: each model's gradient count (`shrike model info`, trainable elements of the
flat gradient buffer that is all-reduced) and its GFLOPs at 640. Modelled: the ring
all-reduce time those gradients imply, 2(N-1)/N x bytes / bus bandwidth + 2(N-1) x
latency, on NVLink inside an H100 node (N <= 8) and on 200 Gb/s InfiniBand between
nodes, against the step time of one GPU, and the efficiency that leaves at 8, 64 and
512 GPUs with and without overlapping the all-reduce with backward.

Assumptions (stated in the output, change them here):
  - gradients all-reduced in fp32 (4 bytes/element), once per optimizer step;
  - NVLink 4 (H100 SXM): NCCL all-reduce bus bandwidth 360 GB/s, latency 8 us/hop;
  - InfiniBand 200 Gb/s = 25 GB/s per HCA; 'rail' = one HCA per GPU (bandwidth per
    GPU 25 GB/s); 'shared' = one HCA per 8-GPU node (3.1 GB/s per GPU); latency
    5 us/hop; hierarchical rings are not modelled (NCCL's trees reduce the latency term);
  - step compute per GPU = 3 x forward FLOPs x images / (H100 bf16 dense peak
    989 TFLOP/s x MFU), MFU 0.25 for these small-channel convolutions, batch 16/GPU
    at 640 (the reference's default batch per device);
  - backward is 2/3 of the step; overlap can hide communication behind at most the
    backward time left after the first bucket is ready (taken as 90% of backward).
"""
import re
import subprocess
import sys

MODELS = ["yolov8n", "yolov8s", "yolov8m", "yolov8l", "yolov8x", "yolo11n", "yolo11s", "yolo11m", "yolo11l", "yolo11x"]
BYTES_PER_GRAD = 4
NVLINK_BUS_GBPS, NVLINK_LAT = 360e9, 8e-6
IB_HCA_GBPS, IB_LAT = 25e9, 5e-6
PEAK_FLOPS, MFU = 989e12, 0.25
BATCH_PER_GPU, GPUS_PER_NODE = 16, 8


def measure(shrike, model):
    text = subprocess.run([shrike, "model", "info", f"{model}.yaml"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"([\d,]+) parameters, ([\d,]+) gradients, ([\d.]+) GFLOPs", text)
    return int(m.group(2).replace(",", "")), float(m.group(3))


def ring_seconds(n, grad_bytes, per_gpu_bandwidth, latency):
    if n == 1:
        return 0.0
    return 2 * (n - 1) / n * grad_bytes / per_gpu_bandwidth + 2 * (n - 1) * latency


def allreduce_seconds(n, grad_bytes, fabric):
    if n <= GPUS_PER_NODE:
        return ring_seconds(n, grad_bytes, NVLINK_BUS_GBPS, NVLINK_LAT)
    per_gpu = IB_HCA_GBPS if fabric == "rail" else IB_HCA_GBPS / GPUS_PER_NODE
    return ring_seconds(n, grad_bytes, per_gpu, IB_LAT)


def main():
    shrike = sys.argv[1] if len(sys.argv) > 1 else "build/bin/shrike"
    rows = [(m, *measure(shrike, m)) for m in MODELS]
    print("| model | gradients | MB (fp32) | GFLOPs@640 | step ms (1 GPU, batch 16) | all-reduce ms: 8 GPUs NVLink | 64 GPUs IB rail | 64 GPUs IB shared | 512 GPUs IB rail |")
    print("|---|---|---|---|---|---|---|---|---|")
    table = []
    for model, grads, gflops in rows:
        grad_bytes = grads * BYTES_PER_GRAD
        step = 3 * gflops * 1e9 * BATCH_PER_GPU / (PEAK_FLOPS * MFU)
        t = {key: allreduce_seconds(n, grad_bytes, fabric)
             for key, n, fabric in [("8", 8, "rail"), ("64r", 64, "rail"), ("64s", 64, "shared"), ("512r", 512, "rail"),
                                    ("512s", 512, "shared")]}
        table.append((model, step, t))
        print(f"| {model} | {grads:,} | {grad_bytes / 1e6:.1f} | {gflops} | {step * 1e3:.1f} | {t['8'] * 1e3:.2f} | "
              f"{t['64r'] * 1e3:.2f} | {t['64s'] * 1e3:.1f} | {t['512r'] * 1e3:.2f} |")
    print()
    print("| model | efficiency 8 GPUs (no overlap / overlap) | 64 GPUs rail | 64 GPUs shared HCA | 512 GPUs rail | 512 GPUs shared HCA |")
    print("|---|---|---|---|---|---|")
    for model, step, t in table:
        hideable = 0.9 * step * 2 / 3
        def eff(comm):
            no = step / (step + comm)
            ov = step / (step + max(0.0, comm - hideable))
            return f"{no:.0%} / {ov:.0%}"
        print(f"| {model} | {eff(t['8'])} | {eff(t['64r'])} | {eff(t['64s'])} | {eff(t['512r'])} | {eff(t['512s'])} |")


if __name__ == "__main__":
    main()
