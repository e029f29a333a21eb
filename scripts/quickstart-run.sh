#!/usr/bin/env bash
# scripts/quickstart-run.sh SHRIKE [DIR]: the quickstart itself, also run by ctest
# (e2e.quickstart). A synthetic dataset is generated and sharded, and the shards are
# checked with h5dump. It grows with each capability (train on 2 MPI ranks, val,
# export, bill) as they land.
set -euo pipefail
shrike=$1
dir=${2:-$(mktemp -d)}
rm -rf "$dir/synth" "$dir/shards"
mkdir -p "$dir"

echo "== 1. a synthetic detection dataset (YOLO format)"
"$shrike" synth --out "$dir/synth" --train 64 --val 16 --seed 0

echo "== 2. shard it into HDF5 (decoded, validated, resized once)"
"$shrike" shard "$dir/synth/data.yaml" --out "$dir/shards" --imgsz 320

echo "== 3. the shards are plain HDF5"
shard=$(ls "$dir"/shards/train/*.h5 | head -n 1)
h5dump -A -H "$shard" | grep -E 'DATASET|ATTRIBUTE "(num_images|imgsz|encoding)"' | head -n 14
grep -E '"(images|boxes)"' "$dir/shards/manifest.json" | head -n 4

echo "quickstart done: dataset in $dir/synth, shards in $dir/shards"
