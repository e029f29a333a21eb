#!/usr/bin/env bash
# tests/integration/safetensors_roundtrip.sh SHRIKE
#
# Weights through the binary and back: export -> import gives identical weights (h5diff
# of /model, float32 and, for float16-exact weights, --half); the imported weights work
# with `shrike val`-style loading (debug forward); import's errors name the tensor:
# another architecture, another scale, a damaged file, a missing model definition; a
# class-count change keeps all but the class branches and lists them.
set -euo pipefail
shrike=$1
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../reference/fixtures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*"
  exit 1
}
expect_error() {  # expect_error "message part" shrike-args...
  local expected=$1
  shift
  local output status=0
  output=$("$shrike" "$@" 2>&1) || status=$?
  if [ "$status" -ne 1 ] || [[ "$output" != *"$expected"* ]]; then
    fail "shrike $* exited $status, expected 1 with '$expected'; output: $output"
  fi
}

for model in yolov8n yolo11n; do
  # The float16 fixture as a float32 shrike weights file, then the round trip.
  "$shrike" import "$fixtures/${model}_s128_b3.weights.h5" --out "$work/$model.h5" >/dev/null
  "$shrike" export "$work/$model.h5" --format safetensors --out "$work/$model.safetensors" >/dev/null
  "$shrike" import "$work/$model.safetensors" --out "$work/$model.back.h5" >/dev/null
  h5diff "$work/$model.h5" "$work/$model.back.h5" /model /model || fail "$model: export -> import changed the weights"
  # The fixture's weights are float16-exact: --half loses nothing either.
  "$shrike" export "$work/$model.h5" --format safetensors --half --out "$work/$model.half.safetensors" >/dev/null
  "$shrike" import "$work/$model.half.safetensors" --out "$work/$model.half.h5" >/dev/null
  h5diff "$work/$model.h5" "$work/$model.half.h5" /model /model || fail "$model: --half round trip changed the weights"
  size32=$(stat -c %s "$work/$model.safetensors")
  size16=$(stat -c %s "$work/$model.half.safetensors")
  [ $((size16 * 2)) -lt $((size32 + 100000)) ] || fail "--half file ($size16 bytes) is not half of $size32"
done
# Attributes carried through: names, model_yaml, imgsz.
h5dump -a names "$work/yolov8n.back.h5" | grep -q 'class3' || fail "names lost in the round trip"
h5dump -a imgsz "$work/yolov8n.back.h5" | grep -q '128' || fail "imgsz lost in the round trip"

# Errors name the problem.
expect_error "tensor model.12.cv1.bn.bias is not part of yolo11n" \
  import "$work/yolov8n.safetensors" --model yolo11n.yaml --out "$work/x.h5"
expect_error "model.0.conv.weight has shape [16, 3, 3, 3], yolov8s expects [32, 3, 3, 3]" \
  import "$work/yolov8n.safetensors" --model yolov8s.yaml --out "$work/x.h5"
head -c 1000 "$work/yolov8n.safetensors" >"$work/truncated.safetensors"
expect_error "truncated" import "$work/truncated.safetensors" --model yolov8n.yaml --out "$work/x.h5"
expect_error "does not exist" import "$work/none.safetensors" --model yolov8n.yaml --out "$work/x.h5"
expect_error "convert it to safetensors first" import "$work/yolov8n.pt" --out "$work/x.h5"
expect_error "end in .h5" import "$work/yolov8n.safetensors" --out "$work/x.pt"
expect_error "--names lists 2 names for 4 classes" import "$work/yolov8n.safetensors" --names a,b --out "$work/x.h5"
[ ! -e "$work/x.h5" ] || fail "a failed import left x.h5 behind"
# A state dict without a model definition needs --model.
/usr/bin/python3 - "$work/yolov8n.safetensors" "$work/bare.safetensors" <<'EOF'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
del header["__metadata__"]
text = json.dumps(header).encode()
text += b" " * ((8 - (8 + len(text)) % 8) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
EOF
expect_error "does not say which architecture" import "$work/bare.safetensors" --out "$work/x.h5"
"$shrike" import "$work/bare.safetensors" --model yolov8n.yaml --out "$work/bare.h5" | grep -q "355 of 355" ||
  fail "a bare state dict with --model did not import"

# Another class count: everything but the class branches kept, the rest listed.
output=$("$shrike" import "$work/yolov8n.safetensors" --nc 2 --names cat,dog --out "$work/two.h5")
echo "$output" | grep -q "imported 349 of 355 tensors" || fail "class-count change: $output"
echo "$output" | grep -q "model.22.cv3.2.2.bias" || fail "class-count change does not list the class heads: $output"
if echo "$output" | grep -E '^  ' | grep -v '\.cv3\.' >/dev/null; then fail "re-initialised outside cv3: $output"; fi
"$shrike" model info "$work/two.h5" | grep -q "Detect" || fail "the imported 2-class weights do not load"
echo "safetensors export and import round trip exactly; errors name the tensor"
