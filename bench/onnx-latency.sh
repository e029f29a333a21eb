#!/usr/bin/env bash
# bench/onnx-latency.sh [BUILD_DIR] [RUNS] [IMGSZ]
#
# Single-image CPU latency of the exported yolov8n at IMGSZ (default 640) in ONNX
# Runtime (npm onnxruntime-node, the runtime of the export tests) next to shrike's own
# eval forward + decode (`shrike debug forward --repeat`), same input, same run, one
# after the other. Both use every core (ONNX Runtime's default intra-op threads,
# shrike's OpenMP). Weights: the yolov8n parity fixture (random but realistic BatchNorm
# statistics); timing does not depend on the values. Record results in bench/RESULTS.md.
set -euo pipefail
build=${1:-build}
runs=${2:-20}
imgsz=${3:-640}
here=$(cd "$(dirname "$0")" && pwd)
shrike=$build/bin/shrike
cache=$build/tests/onnxruntime
ort_version=1.30.0
if [ ! -f "$cache/node_modules/onnxruntime-node/package.json" ]; then
  mkdir -p "$cache"
  npm install --prefix "$cache" --ignore-scripts --no-audit --no-fund --loglevel=error "onnxruntime-node@$ort_version"
fi
export NODE_PATH=$cache/node_modules
check=$here/../tests/integration/onnx_runtime_check.js
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

weights=$here/../tests/reference/fixtures/yolov8n_s128_b3.weights.h5
"$shrike" export "$weights" --format onnx --imgsz "$imgsz" --out "$work/yolov8n.onnx" | head -1
node "$check" input "$work/input.safetensors" 1 "$imgsz" "$imgsz" 1
echo "cores: $(nproc)"
node "$check" time "$work/yolov8n.onnx" "$work/input.safetensors" "$runs"
"$shrike" debug forward --weights "$weights" --input "$work/input.safetensors" --out "$work/out.safetensors" \
  --repeat "$runs" | tail -1
