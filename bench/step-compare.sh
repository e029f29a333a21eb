#!/usr/bin/env bash
# bench/step-compare.sh [BUILD_DIR]: the issue-3 figures of bench/RESULTS.md, side by
# side in one run on a quiet machine: shrike's CPU engine and PyTorch (Debian's
# python3-torch, 2 threads, bench/torch_step_bench.py: the independent reference model
# of tests/reference) doing the same training step (forward, v8 loss, backward) for
# yolov8n, nc 80, batch 16, at imgsz 320 and 640. Each configuration runs in its own
# process so that peak memory is its own.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build}/bin
echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
peak=$("$bin/bench_step" --imgsz 64 --batch 1 --steps 1 --warmup 0 --measure-peak | sed -n 's/^FP32 peak.*: \([0-9.]*\) GFLOP.*/\1/p')
echo "FP32 peak (oneDNN SGEMM 2048^3): $peak GFLOP/s"
for imgsz in 320 640; do
  "$bin/bench_step" --model yolov8n.yaml --nc 80 --imgsz "$imgsz" --batch 16 --steps 5 --warmup 2 --peak-gflops "$peak"
  /usr/bin/python3 "$root/bench/torch_step_bench.py" --imgsz "$imgsz" --batch 16 ${TORCH_BENCH_ARGS:-}
done
