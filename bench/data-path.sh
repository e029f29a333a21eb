#!/usr/bin/env bash
# bench/data-path.sh [BUILD_DIR]: the shard figures of bench/RESULTS.md: coco128 and a
# synthetic set of 2,000 images, at imgsz 640, raw and jpeg encodings.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build}/bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$bin/shrike" synth --out "$work/synth" --train 2000 --val 10 --seed 0 2>/dev/null | tail -n 1
for encoding in raw jpeg; do
  "$bin/bench_data_path" "$root/../shared/datasets/coco128/coco128.yaml" "$work" --imgsz 640 --encoding "$encoding"
  "$bin/bench_data_path" "$work/synth/data.yaml" "$work" --imgsz 640 --encoding "$encoding"
done
