#!/usr/bin/env bash
# bench/dp-cpu.sh BUILD_DIR [EPOCHS]: data parallelism on one CPU machine, side by side
# in one run: yolov8n on a synthetic set (256 images, imgsz 320, global batch 16, SGD,
# val off) trained by 1 process, by 2 MPI ranks with the bucketed all-reduce overlapped
# with backward (bucket_mb=4), and by 2 ranks with one all-reduce after backward
# (bucket_mb=0). Prints seconds per epoch, images/s, and the time rank 0's optimizer
# steps waited on the all-reduce (metrics.jsonl "allreduce" records).
set -euo pipefail
build=$(cd "$1" && pwd)
epochs=${2:-2}
shrike=$build/bin/shrike
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$shrike" synth --out synth --train 256 --val 16 --seed 3 >/dev/null 2>&1
"$shrike" shard synth/data.yaml --out shards --imgsz 320 --quiet >/dev/null
common=(model=yolov8n.yaml data=shards imgsz=320 batch=16 "epochs=$epochs" workers=1 optimizer=SGD val=False
        close_mosaic=0 "project=$work/runs")
"$shrike" train "${common[@]}" name=np1 >np1.log 2>&1
mpirun -np 2 --bind-to none "$shrike" train "${common[@]}" name=np2_overlap bucket_mb=4 >np2a.log 2>&1
mpirun -np 2 --bind-to none "$shrike" train "${common[@]}" name=np2_after bucket_mb=0 >np2b.log 2>&1
/usr/bin/python3 - runs <<'PY'
import json, sys, os
print("| run | s/epoch (mean of epochs) | img/s | optimizer steps | all-reduce wait per step (ms) | share of step time | buckets started during backward |")
print("|---|---|---|---|---|---|---|")
for name in ["np1", "np2_overlap", "np2_after"]:
    rows = [json.loads(l) for l in open(os.path.join(sys.argv[1], name, "metrics.jsonl"))]
    epochs = [r for r in rows if r.get("type") == "epoch"]
    times = [epochs[0]["time"]] + [b["time"] - a["time"] for a, b in zip(epochs, epochs[1:])]
    per_epoch = sum(times) / len(times)
    steps = sum(r.get("allreduce", {}).get("steps", 0) for r in epochs)
    wait = sum(r.get("allreduce", {}).get("wait_seconds", 0) for r in epochs)
    started = sum(r.get("allreduce", {}).get("started_during_backward", 0) for r in epochs)
    buckets = sum(r.get("allreduce", {}).get("buckets", 0) for r in epochs)
    iterations = 256 // 16 * len(epochs)
    step_ms = per_epoch * len(epochs) / iterations * 1000
    wait_ms = wait / steps * 1000 if steps else 0
    share = f"{wait / (per_epoch * len(epochs)):.1%}" if steps else "-"
    print(f"| {name} | {per_epoch:.2f} | {256 / per_epoch:.1f} | {steps} | {wait_ms:.1f} | {share} | {started}/{buckets} |")
PY
