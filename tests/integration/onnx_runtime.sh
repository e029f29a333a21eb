#!/usr/bin/env bash
# tests/integration/onnx_runtime.sh SHRIKE CACHE_DIR
#
# `shrike export --format onnx` checked by a runtime shrike did not write: ONNX Runtime
# (npm onnxruntime-node, CPU; installed once into CACHE_DIR, a folder of the build tree)
# runs the exported yolov8n and yolo11n (the PyTorch fixture weights, whose BatchNorm
# statistics are random, so folding is exercised) and must give `shrike debug forward`'s
# output to 1e-4 (onnx_runtime_check.js: every element within 1e-4 * max(|x|, 1) and
# the tensor in relative L2): fixed size, dynamic export at two sizes (one a batch of
# 2, one not square), opset 13, an untrained 80-class model; float16 (--half) within
# 1e-2. Then the command's errors. Exits 77 (skipped) without node/npm or the registry.
set -euo pipefail
shrike=$1
cache=$2
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../reference/fixtures
ort_version=1.30.0  # pinned: the same runtime in CI and here

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node and npm are needed for onnxruntime-node (scripts/install-deps.sh installs nodejs and npm)"
  exit 77
fi
mkdir -p "$cache"
installed() {
  local package=$cache/node_modules/onnxruntime-node/package.json
  node -e "process.exit(require('$package').version === '$ort_version' ? 0 : 1)" 2>/dev/null
}
if ! (
  flock 9
  installed || npm install --prefix "$cache" --ignore-scripts --no-audit --no-fund --loglevel=error \
                 "onnxruntime-node@$ort_version" >/dev/null
) 9>"$cache/.install-lock"; then
  echo "SKIP: npm install onnxruntime-node@$ort_version into $cache failed (no access to the npm registry?)"
  exit 77
fi
export NODE_PATH=$cache/node_modules

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() { node "$here/onnx_runtime_check.js" "$@"; }
forward() { "$shrike" debug forward --weights "$1" --input "$2" --out "$3" >/dev/null; }

check input "$work/square.safetensors" 1 128 128 1
check input "$work/batch2.safetensors" 2 96 160 2
check input "$work/tall.safetensors" 1 160 128 3

for model in yolov8n yolo11n; do
  weights=$fixtures/${model}_s128_b3.weights.h5
  "$shrike" export "$weights" --format onnx --out "$work/$model.onnx"
  forward "$weights" "$work/square.safetensors" "$work/$model.square.out.safetensors"
  check compare "$work/$model.onnx" "$work/square.safetensors" "$work/$model.square.out.safetensors" 1e-4

  "$shrike" export "$weights" --format onnx --dynamic --out "$work/$model.dynamic.onnx" >/dev/null
  for input in batch2 tall; do
    forward "$weights" "$work/$input.safetensors" "$work/$model.$input.out.safetensors"
    check compare "$work/$model.dynamic.onnx" "$work/$input.safetensors" "$work/$model.$input.out.safetensors" 1e-4
  done
done

weights=$fixtures/yolov8n_s128_b3.weights.h5
"$shrike" export "$weights" --format onnx --opset 13 --out "$work/opset13.onnx" >/dev/null
check compare "$work/opset13.onnx" "$work/square.safetensors" "$work/yolov8n.square.out.safetensors" 1e-4
# float16 weights and activations against shrike's float32: half precision's own error.
"$shrike" export "$weights" --format onnx --half --out "$work/half.onnx" >/dev/null
check compare "$work/half.onnx" "$work/square.safetensors" "$work/yolov8n.square.out.safetensors" 1e-2 --half
# An untrained model straight from its YAML (80 classes, default initialisation).
"$shrike" export yolo11n.yaml --format onnx --imgsz 160 --out "$work/untrained.onnx" >/dev/null
check input "$work/160.safetensors" 1 160 160 4
forward yolo11n.yaml "$work/160.safetensors" "$work/untrained.out.safetensors"
check compare "$work/untrained.onnx" "$work/160.safetensors" "$work/untrained.out.safetensors" 1e-4

# Errors: exit 1 with a message naming the problem.
expect_error() {  # expect_error "message part" shrike-args...
  local expected=$1
  shift
  local output status=0
  output=$("$shrike" "$@" 2>&1) || status=$?
  if [ "$status" -ne 1 ] || [[ "$output" != *"$expected"* ]]; then
    echo "FAIL: shrike $* exited $status, expected 1 with '$expected'; output:"
    echo "$output"
    exit 1
  fi
}
expect_error "not one shrike writes" export "$weights" --format tflite --out "$work/x"
expect_error "--opset 18 is not supported" export "$weights" --format onnx --opset 18 --out "$work/x.onnx"
expect_error "is not a size" export "$weights" --format onnx --imgsz big --out "$work/x.onnx"
expect_error "does not exist" export "$work/missing.h5" --format onnx
expect_error "--dynamic applies to --format onnx only" export "$weights" --format safetensors --dynamic
expect_error "has no tensor 'images'" \
  debug forward --weights "$weights" --input "$work/yolov8n.square.out.safetensors" --out "$work/x.safetensors"
output=$("$shrike" export "$weights" --format onnx --imgsz 100 --out "$work/rounded.onnx" 2>&1)
[[ "$output" == *"using imgsz=128"* && "$output" == *"(1, 3, 128, 128)"* ]] || {
  echo "FAIL: --imgsz 100 was not rounded up to 128 with a warning: $output"
  exit 1
}
[ ! -e "$work/x.onnx" ] || { echo "FAIL: a failed export left $work/x.onnx behind"; exit 1; }
echo "ONNX Runtime agrees with shrike on every exported model"
