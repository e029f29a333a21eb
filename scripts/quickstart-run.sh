#!/usr/bin/env bash
# scripts/quickstart-run.sh SHRIKE [DIR]: the quickstart itself, also run by ctest
# (e2e.quickstart): a synthetic dataset is generated and sharded (the shards checked
# with h5dump), yolov8n is trained on it for a few epochs on the CPU with 2 MPI ranks
# (data-parallel, one global batch split across the ranks), and the best weights are
# validated, exported (ONNX and safetensors) and billed (its usage settled into a
# ledger of its own, priced as the catalogue's `cpu` instance type).
# QUICKSTART_EPOCHS sets the epochs (default 3).
set -euo pipefail
shrike=$1
dir=${2:-$(mktemp -d)}
epochs=${QUICKSTART_EPOCHS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$dir/synth" "$dir/shards" "$dir/runs" "$dir/ledger.db" "$dir/ledger.db-wal" "$dir/ledger.db-shm"
mkdir -p "$dir"

echo "== 1. a synthetic detection dataset (YOLO format)"
"$shrike" synth --out "$dir/synth" --train 64 --val 16 --seed 0

echo "== 2. shard it into HDF5 (decoded, validated, resized once)"
"$shrike" shard "$dir/synth/data.yaml" --out "$dir/shards" --imgsz 320

echo "== 3. the shards are plain HDF5"
shard=$(ls "$dir"/shards/train/*.h5 | head -n 1)
h5dump -A -H "$shard" | grep -E 'DATASET|ATTRIBUTE "(num_images|imgsz|encoding)"' | head -n 14

echo "== 4. train yolov8n on it ($epochs epochs, CPU, 2 MPI ranks)"
# As root Open MPI asks for these; --oversubscribe allows 2 ranks on fewer cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun -np 2 --oversubscribe "$shrike" train "$root/configs/experiments/quickstart.yaml" "data=$dir/shards" \
  "epochs=$epochs" "project=$dir/runs" name=exp workers=1

echo "== 5. validate the best weights"
"$shrike" val "$dir/runs/exp/weights/best.h5" --data "$dir/shards"

echo "== 6. export for deployment: ONNX (checked by ONNX's checker) and safetensors"
"$shrike" export "$dir/runs/exp/weights/best.h5" --format onnx --imgsz 320 --out "$dir/runs/exp/weights/best.onnx"
"$shrike" export "$dir/runs/exp/weights/best.h5" --format safetensors --out "$dir/runs/exp/weights/best.safetensors"

echo "== 7. the bill: the run's compute (usage.json) settled into a ledger and shown"
export SHRIKE_LEDGER=$dir/ledger.db  # the quickstart's own ledger, not your ~/.shrike one
"$shrike" accounting settle "$dir/runs/exp"
"$shrike" credits balance
"$shrike" credits history

echo "quickstart done: dataset $dir/synth, shards $dir/shards, run $dir/runs/exp (results.csv, results.svg,"
echo "weights/ with best.onnx and best.safetensors), ledger $dir/ledger.db"
