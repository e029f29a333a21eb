#!/usr/bin/env python3
# bench/device_peaks.py
#
# The two ceilings METHOD.md asks for, measured on the GPU at hand with PyTorch, so that
# bench/gpu-check.sh can set each step's FLOPs and bytes against what the device really
# does rather than its datasheet: a large matrix product (bf16, tf32 and strict fp32 data)
# and a large device-to-device copy (bytes read + bytes written). Random data, never
# zeros; warm-up first; the median of timed repeats between CUDA events. Prints one JSON
# line: device, bf16_tflops, tf32_tflops, fp32_tflops, copy_gbps. About 5 s on an H100.
#
#   python3 bench/device_peaks.py [--n 8192] [--copy-gib 2]
import argparse
import json
import statistics
import sys

import torch


def median_ms(fn, warmup=3, repeats=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def set_matmul_tf32(allow):
    """PyTorch >= 2.9 has fp32_precision (and objects to mixing it with the old flag)."""
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        matmul.fp32_precision = "tf32" if allow else "ieee"
    else:
        matmul.allow_tf32 = allow


def matmul_tflops(n, dtype, allow_tf32):
    set_matmul_tf32(allow_tf32)
    a = torch.randn(n, n, device="cuda", dtype=dtype)
    b = torch.randn(n, n, device="cuda", dtype=dtype)
    ms = median_ms(lambda: a @ b, repeats=10 if dtype == torch.bfloat16 else 4)
    return 2 * n**3 / (ms / 1000) / 1e12


def main():
    ap = argparse.ArgumentParser(description="Measure the GPU's matrix-product and copy ceilings (see the header).")
    ap.add_argument("--n", type=int, default=8192, help="matrix side")
    ap.add_argument("--copy-gib", type=float, default=2.0, help="bytes copied per repeat, GiB")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("error: no CUDA device visible to PyTorch")
    line = {"device": torch.cuda.get_device_name(), "n": args.n}
    line["bf16_tflops"] = matmul_tflops(args.n, torch.bfloat16, False)
    line["tf32_tflops"] = matmul_tflops(args.n, torch.float32, True)
    line["fp32_tflops"] = matmul_tflops(args.n, torch.float32, False)
    set_matmul_tf32(False)
    elements = int(args.copy_gib * (1 << 30)) // 4
    src = torch.rand(elements, device="cuda")
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src))
    line["copy_gbps"] = 2 * src.numel() * 4 / (ms / 1000) / 1e9  # read + write
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
