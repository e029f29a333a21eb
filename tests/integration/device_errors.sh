#!/usr/bin/env bash
# tests/integration/device_errors.sh SHRIKE: the `device` key and the GPU commands on a
# machine without a usable GPU (CI): device=cuda, cuda:N, `debug step --device` and
# `debug bench-step` are user errors (exit 1) that name the key and the way out, and a
# refused train leaves no run folder; device=auto falls back to the CPU and says so; a
# bad device value names the valid ones. On a machine with a GPU the answers differ,
# so there the test reports itself skipped (exit 77); the gpu tests cover it.
set -uo pipefail
shrike=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/expect.sh"  # fail, expect

if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; then
  echo "SKIPPED: a GPU is present; device errors are checked where there is none"
  exit 77
fi

"$shrike" synth --out "$work/synth" --train 8 --val 4 >/dev/null
"$shrike" shard "$work/synth/data.yaml" --out "$work/shards" --imgsz 64 -q >/dev/null
train=(train model=yolov8n.yaml data="$work/shards" epochs=1 imgsz=64 batch=4 workers=1 project="$work/runs")

expect 1 "device=cuda: .*CUDA.*device=cpu" -- "${train[@]}" device=cuda name=cuda
expect 1 "device=cuda:1: .*device=cpu" -- "${train[@]}" device=cuda:1 name=cuda1
expect 1 "device=gpu: expected auto, cpu, cuda or cuda:N" -- "${train[@]}" device=gpu name=gpu
expect 1 "device=cuda:x: expected cuda:N" -- "${train[@]}" device=cuda:x name=cudax
expect 1 "amp=maybe is not true or false" -- "${train[@]}" amp=maybe name=amp
for name in cuda cuda1 gpu cudax amp; do
  [ ! -e "$work/runs/$name" ] || fail "a refused run left the folder runs/$name"
done
expect 0 "device=auto: no usable GPU, training on CPU" -- "${train[@]}" device=auto name=auto val=False
python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["devices"] != ["cpu"])' \
  "$work/runs/auto/run.json" || fail "the auto run's provenance (run.json devices) is not [\"cpu\"]"

fixtures=$(cd "$(dirname "$0")/../reference/fixtures" && pwd)
expect 1 "device=cuda:0: .*device=cpu" -- debug step --weights "$fixtures/tiny.weights.h5" \
  --batch "$fixtures/tiny.batch.h5" --out "$work/step.h5" --device cuda:0
[ ! -e "$work/step.h5" ] || fail "a refused debug step wrote its output"
expect 1 "device=cuda:0: " -- debug bench-step --imgsz 64 --batch 2
expect 0 "usage: shrike debug bench-step" -- debug bench-step --help

[ "$failures" -eq 0 ] && echo "PASS: device_errors" || exit 1
