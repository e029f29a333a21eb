#!/usr/bin/env bash
# tests/mpi/train_np2.sh MPIEXEC SHRIKE: `mpirun -np 2 shrike train` trains one model:
# one run folder (written by rank 0 only) that records world size 2, every epoch row
# (validated by both ranks), a loadable checkpoint; `shrike val` over 3 ranks gives the
# figures of 1; the run stopped mid-epoch under 2 ranks resumes under 1 (a
# different world size) and completes.
set -uo pipefail
mpiexec=$1
shrike=$2
source "$(dirname "$0")/../integration/train_fixture.sh"
cd "$work"
make_training_data "$shrike" 24 8 6
common=(model=yolov8n.yaml data=shards imgsz=64 batch=8 workers=1 optimizer=SGD "project=$work/runs")

"$mpiexec" -np 2 --oversubscribe "$shrike" train "${common[@]}" epochs=2 name=np2 >np2.log 2>&1 ||
  fail "mpirun -np 2 shrike train exited $?: $(tail -5 np2.log)"
[ "$(ls -d runs/* | wc -l)" -eq 1 ] || fail "more than one run folder: $(ls runs)"
grep -q '"world_size": 2' runs/np2/run.json || fail "run.json does not record world size 2: $(cat runs/np2/run.json)"
[ "$(wc -l < runs/np2/results.csv)" -eq 3 ] || fail "results.csv should have 2 epoch rows"
grep -q '"state": "completed"' runs/np2/status.json || fail "status: $(cat runs/np2/status.json)"
"$shrike" model info runs/np2/weights/last.h5 >/dev/null || fail "last.h5 does not load"
grep -q "metrics/mAP50" runs/np2/results.csv && [ -n "$(sed -n 3p runs/np2/results.csv | cut -d, -f8)" ] ||
  fail "the 2-rank run did not validate: $(cat runs/np2/results.csv)"

# distributed validation: 3 ranks split 8 images in batches of 2 unevenly; same figures as 1
drop_seconds() { sed 's/"seconds":[0-9.e-]*//'; }
"$shrike" val runs/np2/weights/last.h5 --data shards batch=2 --json 2>/dev/null | tail -1 | drop_seconds >val1.json
"$mpiexec" -np 3 --oversubscribe "$shrike" val runs/np2/weights/last.h5 --data shards batch=2 --json 2>/dev/null |
  tail -1 | drop_seconds >val3.json
grep -q '"images":8' val1.json || fail "shrike val saw not 8 images: $(cat val1.json)"
cmp -s val1.json val3.json || fail "validation over 3 ranks $(cat val3.json) differs from 1 rank's $(cat val1.json)"

# stop mid-epoch 2 under two ranks (global batch 8: 3 iterations per epoch), resume with one
SHRIKE_STOP_AT_ITERATION=4 "$mpiexec" -np 2 --oversubscribe "$shrike" train "${common[@]}" epochs=3 name=switch \
  >switch1.log 2>&1
code=$?
[ "$code" -eq 4 ] || fail "stopped 2-rank run exited $code, expected 4: $(tail -3 switch1.log)"
"$shrike" resume runs/switch >switch2.log 2>&1 || fail "resume under 1 rank exited $?: $(tail -5 switch2.log)"
grep -q '"state": "completed"' runs/switch/status.json || fail "resumed status: $(cat runs/switch/status.json)"
[ "$(wc -l < runs/switch/results.csv)" -eq 4 ] || fail "resumed results.csv should have 3 epoch rows"

finish "2-rank training, resumed under 1 rank"
