#!/usr/bin/env bash
# bench/train-compare.sh [BUILD_DIR]: the issue-4 figures of bench/RESULTS.md in one run:
# yolov8n trained on the synthetic set (`shrike synth`, 256 train + 64 val, sharded at
# imgsz 320) by shrike (CPU) and then by the PyTorch reference loop
# (bench/torch_train_reference.py: tests/reference's model and loss, 2 threads) at the
# same settings: imgsz 320, batch 16, SGD lr0 0.01, mosaic/HSV/translate/scale off (flip
# lr stays on). The two trainings run one after the other, never at once. Both runs'
# weights are measured by the same validator (`shrike val --json` for PyTorch's EMA
# weights, shrike's own per-epoch validation for shrike). Prints a side-by-side table.
#
# Environment: EPOCHS (=30; 10 for a quick run), VAL_EVERY (=5: PyTorch epochs validated;
# the last always is), WORK (=a fresh folder under /tmp), PYTHON (=/usr/bin/python3),
# DATA (=a data.yaml to use instead of the synthetic set, e.g.
# ../shared/datasets/coco128/coco128.yaml, whose val split is its train split).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:-$root/build}" && pwd)/bin
shrike=$bin/shrike
epochs=${EPOCHS:-30}
val_every=${VAL_EVERY:-5}
python=${PYTHON:-/usr/bin/python3}
work=${WORK:-$(mktemp -d /tmp/shrike-train-compare.XXXXXX)}
mkdir -p "$work"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
echo "# work folder $work, epochs $epochs"

data_yaml=${DATA:-$work/synth/data.yaml}
[[ -n ${DATA:-} || -d $work/synth ]] || "$shrike" synth --out "$work/synth" >/dev/null
[[ -d $work/shards ]] || "$shrike" shard "$data_yaml" --out "$work/shards" --imgsz 320 -q >/dev/null
echo "# data $data_yaml"


echo "# shrike train ..."
rm -rf "$work/runs/shrike"
"$shrike" train model=yolov8n.yaml data="$work/shards" epochs="$epochs" imgsz=320 batch=16 optimizer=SGD \
  lr0=0.01 mosaic=0 hsv_h=0 hsv_s=0 hsv_v=0 translate=0 scale=0 workers=2 seed=0 \
  project="$work/runs" name=shrike > "$work/shrike-train.log" 2>&1

echo "# PyTorch reference loop ..."
rm -rf "$work/runs/torch"
"$python" "$root/bench/torch_train_reference.py" --data "$work/shards" --out "$work/runs/torch" \
  --epochs "$epochs" --imgsz 320 --batch 16 --lr0 0.01 --threads 2 --seed 0 \
  --shrike "$shrike" --val-every "$val_every" > "$work/torch-train.log" 2>&1

"$python" - "$work/runs/shrike" "$work/runs/torch" <<'EOF'
import csv, json, sys
shrike_dir, torch_dir = sys.argv[1], sys.argv[2]
# shrike: per-epoch metrics from results.csv (time is cumulative); training-only time from
# metrics.jsonl = last batch's wall time minus the previous epoch record (or the start event).
rows = {int(r["epoch"]): r for r in csv.DictReader(open(f"{shrike_dir}/results.csv"))}
train_s, prev, last_batch = {}, None, {}
for line in open(f"{shrike_dir}/metrics.jsonl"):
    rec = json.loads(line)
    if rec["type"] == "event" and rec.get("event") == "start":
        prev = rec["wall_time"]
    elif rec["type"] == "train":
        last_batch[rec["epoch"]] = rec["wall_time"]
    elif rec["type"] == "epoch":
        train_s[rec["epoch"]] = last_batch[rec["epoch"]] - prev
        prev = rec["wall_time"]
shrike_total = {}
cum = 0.0
for e in sorted(rows):
    t = float(rows[e]["time"]); shrike_total[e] = t - cum; cum = t
trows = {int(r["epoch"]): r for r in csv.DictReader(open(f"{torch_dir}/results.csv"))}
f = lambda x: f"{float(x):.4f}" if x not in ("", None) else "-"
print()
print("| epoch | shrike mAP50 | shrike mAP50-95 | PyTorch mAP50 | PyTorch mAP50-95 | shrike train s | PyTorch train s | shrike/PyTorch | shrike epoch s (with val) | PyTorch epoch s (with val) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for e in sorted(rows):
    r, t = rows[e], trows.get(e, {})
    st, pt = train_s.get(e), float(t["train_s"]) if t else None
    ratio = f"{st / pt:.2f}" if st and pt else "-"
    pv = f"{float(t['epoch_s']):.1f}" if t and t.get("mAP50") else "-"
    print(f"| {e} | {f(r['metrics/mAP50(B)'])} | {f(r['metrics/mAP50-95(B)'])} | {f(t.get('mAP50'))} | "
          f"{f(t.get('mAP50-95'))} | {st:.1f} | {pt:.1f} | {ratio} | {shrike_total[e]:.1f} | {pv} |")
es = sorted(rows)[1:]  # epoch 1 includes start-up on both sides
ms = sum(train_s[e] for e in es) / len(es)
mp = sum(float(trows[e]["train_s"]) for e in es) / len(es)
print(f"\nmean training time per epoch over epochs 2..{es[-1]}: shrike {ms:.2f} s, PyTorch {mp:.2f} s, "
      f"ratio shrike/PyTorch {ms / mp:.2f}")
EOF
