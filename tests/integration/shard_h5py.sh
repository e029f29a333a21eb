#!/usr/bin/env bash
# tests/integration/shard_h5py.sh SHRIKE: shards a synthetic set and runs the README's
# h5py snippet on it (shard_h5py.py) with Debian's python3-h5py.
set -euo pipefail
shrike=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$shrike" synth --out "$work/synth" --train 8 --val 2 --seed 5 >/dev/null 2>&1
"$shrike" shard "$work/synth/data.yaml" --out "$work/shards" --imgsz 256 --quiet >/dev/null
/usr/bin/python3 "$here/shard_h5py.py" "$work/shards"
