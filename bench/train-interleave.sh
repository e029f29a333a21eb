#!/usr/bin/env bash
# bench/train-interleave.sh [BUILD_DIR]: training seconds per epoch, shrike (CPU) against
# the PyTorch reference loop (bench/torch_train_reference.py, 2 threads), alternating
# ROUNDS times so that machine noise falls on both sides alike. The settings are those of
# bench/train-compare.sh (the synthetic set at imgsz 320, yolov8n, batch 16, SGD lr0
# 0.01, letterbox + horizontal flip only); shrike runs with val=False and PyTorch
# validates no epoch it times. Epoch 1 pays graph planning and warm-up on both sides and
# is left out of the means. Prints each round's epochs and the means.
#
# Environment: ROUNDS (=3), EPOCHS (=4), WORK (=a fresh folder under /tmp),
# PYTHON (=/usr/bin/python3). Run on a quiet machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shrike=$(cd "${1:-$root/build}" && pwd)/bin/shrike
rounds=${ROUNDS:-3}
epochs=${EPOCHS:-4}
python=${PYTHON:-/usr/bin/python3}
work=${WORK:-$(mktemp -d /tmp/shrike-interleave.XXXXXX)}
mkdir -p "$work"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
echo "# shrike $("$shrike" --version | head -1), $rounds rounds of $epochs epochs, work folder $work"
[[ -d $work/synth ]] || "$shrike" synth --out "$work/synth" >/dev/null
[[ -d $work/shards ]] || "$shrike" shard "$work/synth/data.yaml" --out "$work/shards" --imgsz 320 -q >/dev/null

shrike_epochs() {  # training-only seconds per epoch from metrics.jsonl
  "$python" - "$1" <<'PY'
import json, sys
prev, last, out = None, {}, []
for line in open(sys.argv[1] + "/metrics.jsonl"):
    r = json.loads(line)
    if r["type"] == "event" and r.get("event") == "start": prev = r["wall_time"]
    elif r["type"] == "train": last[r["epoch"]] = r["wall_time"]
    elif r["type"] == "epoch": out.append(last[r["epoch"]] - prev); prev = r["wall_time"]
print(" ".join(f"{t:.2f}" for t in out))
PY
}
torch_epochs() {
  "$python" -c "import csv, sys; print(' '.join(f\"{float(r['train_s']):.2f}\" for r in csv.DictReader(open(sys.argv[1]))))" \
    "$1/results.csv"
}

: > "$work/epochs.txt"
for round in $(seq 1 "$rounds"); do
  rm -rf "$work/runs/s$round" "$work/runs/t$round"
  "$shrike" train model=yolov8n.yaml data="$work/shards" epochs="$epochs" imgsz=320 batch=16 optimizer=SGD lr0=0.01 \
    mosaic=0 hsv_h=0 hsv_s=0 hsv_v=0 translate=0 scale=0 workers=2 seed=0 val=False \
    project="$work/runs" name="s$round" > "$work/s$round.log" 2>&1
  s=$(shrike_epochs "$work/runs/s$round")
  "$python" "$root/bench/torch_train_reference.py" --data "$work/shards" --out "$work/runs/t$round" \
    --epochs "$epochs" --imgsz 320 --batch 16 --lr0 0.01 --threads 2 --seed 0 --shrike "$shrike" \
    --val-every 100000 > "$work/t$round.log" 2>&1
  t=$(torch_epochs "$work/runs/t$round")
  echo "round $round  shrike: $s  |  PyTorch: $t"
  echo "shrike $s" >> "$work/epochs.txt"
  echo "torch $t" >> "$work/epochs.txt"
done
"$python" - "$work/epochs.txt" <<'PY'
import sys
sides = {"shrike": [], "torch": []}
for line in open(sys.argv[1]):
    side, *times = line.split()
    sides[side] += [float(t) for t in times[1:]]  # epoch 1 left out
s, t = (sum(v) / len(v) for v in (sides["shrike"], sides["torch"]))
print(f"mean of epochs 2-: shrike {s:.2f} s, PyTorch {t:.2f} s, PyTorch / shrike = {t / s:.2f}x")
PY
