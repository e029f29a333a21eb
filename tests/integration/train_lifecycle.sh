#!/usr/bin/env bash
# tests/integration/train_lifecycle.sh SHRIKE: `shrike train` end to end on a small
# synthetic set: the run folder contract; a run stopped in the middle of an epoch and
# resumed ends bit-identical to the uninterrupted run (h5diff of the weights); SIGTERM
# saves a checkpoint, sets status "stopped" and exits 4; val=False still writes epoch
# rows (the final epoch validates); bad keys are errors with a suggestion.
set -uo pipefail
shrike=$1
source "$(dirname "$0")/train_fixture.sh"
cd "$work"
make_training_data "$shrike" 24 8 4
common=(model=yolov8n.yaml data=shards imgsz=64 batch=8 epochs=3 workers=2 optimizer=SGD close_mosaic=1 "project=$work/runs")

# 1. uninterrupted run and the run-folder contract
"$shrike" train "${common[@]}" name=full >full.log 2>&1 || fail "full run exited $?: $(tail -5 full.log)"
run=runs/full
for f in config.yaml results.csv metrics.jsonl results.svg status.json usage.json run.json train.log weights/last.h5 weights/best.h5; do
  [ -e "$run/$f" ] || fail "run folder lacks $f"
done
ls "$run"/events.out.tfevents.* >/dev/null 2>&1 || fail "no TensorBoard event file"
[ "$(head -1 "$run/results.csv")" = "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2" ] ||
  fail "results.csv header: $(head -1 "$run/results.csv")"
[ "$(wc -l < "$run/results.csv")" -eq 4 ] || fail "results.csv has $(wc -l < "$run/results.csv") lines, expected 4"
grep -q '"state": "completed"' "$run/status.json" || fail "status: $(cat "$run/status.json")"
grep -q '"segments"' "$run/usage.json" || fail "usage.json without segments"

# 2. stopped mid-epoch 2 (iteration 4 of 3 per epoch), resumed: identical weights
SHRIKE_STOP_AT_ITERATION=4 "$shrike" train "${common[@]}" name=split >split1.log 2>&1
code=$?
[ "$code" -eq 4 ] || fail "stopped run exited $code, expected 4: $(tail -3 split1.log)"
grep -q '"state": "stopped"' runs/split/status.json || fail "status after stop: $(cat runs/split/status.json)"
"$shrike" train resume=runs/split >split2.log 2>&1 || fail "resume exited $?: $(tail -5 split2.log)"
grep -q '"state": "completed"' runs/split/status.json || fail "resumed status: $(cat runs/split/status.json)"
h5diff runs/full/weights/last.h5 runs/split/weights/last.h5 /model /model >diff.txt 2>&1 ||
  fail "resumed weights differ from the uninterrupted run: $(head -5 diff.txt)"
h5diff runs/full/weights/last.h5 runs/split/weights/last.h5 /ema /ema >/dev/null 2>&1 || fail "resumed EMA differs"
cut -d, -f1,3- runs/full/results.csv >a.csv
cut -d, -f1,3- runs/split/results.csv >b.csv
cmp -s a.csv b.csv || fail "results.csv (without time) differs: $(diff a.csv b.csv | head -4)"
[ "$(grep -c '"start"' runs/split/usage.json)" -eq 2 ] || fail "usage.json should have 2 segments"

# 3. SIGTERM: checkpoint, status stopped, exit 4
"$shrike" train "${common[@]}" epochs=50 name=term >term.log 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  grep -q '"type":"train"' runs/term/metrics.jsonl 2>/dev/null && break
  sleep 0.1
done
kill -TERM "$pid"
wait "$pid"
code=$?
[ "$code" -eq 4 ] || fail "SIGTERM run exited $code, expected 4: $(tail -3 term.log)"
grep -q '"state": "stopped"' runs/term/status.json || fail "status after SIGTERM: $(cat runs/term/status.json)"
"$shrike" model info runs/term/weights/last.h5 >/dev/null || fail "last.h5 after SIGTERM does not load"

# 4. val=False: epoch rows with empty metric cells (the final epoch still validates,
#    as the reference does)
"$shrike" train "${common[@]}" epochs=2 val=False name=noval >noval.log 2>&1 || fail "val=False run failed"
row=$(sed -n 2p runs/noval/results.csv)
[ "$(cut -d, -f6-12 <<<"$row")" = ",,,,,," ] || fail "val=False row should have empty metrics: $row"
row=$(sed -n 3p runs/noval/results.csv)
[ -n "$(cut -d, -f6 <<<"$row")" ] || fail "the final epoch should be validated: $row"

# 5. credit limit: at 1 credit per second (rate 3600 per hour) a limit of 72 credits
#    pauses at the first check (after 5 s: 5 s spent + 60 s until the next check + 10 s
#    for the checkpoint would pass 72) with a checkpoint, state paused, exit 3; resumed
#    with a larger limit it trains on (stopped two iterations later by the test hook),
#    and usage.json has both segments.
"$shrike" train "${common[@]}" epochs=400 credit_limit=72 rate=3600 name=credits >credits.log 2>&1
code=$?
[ "$code" -eq 3 ] || fail "credit-limited run exited $code, expected 3: $(tail -3 credits.log)"
grep -q '"state": "paused"' runs/credits/status.json && grep -q '"reason": "credits"' runs/credits/status.json ||
  fail "status after the credit pause: $(cat runs/credits/status.json)"
"$shrike" model info runs/credits/weights/last.h5 >/dev/null || fail "last.h5 after the credit pause does not load"
iteration=$(/usr/bin/python3 -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip().endswith("}")]
pause = [e for e in events if e.get("type") == "event" and e.get("event") == "pause"][-1]
print(pause["epoch"] * 3 + pause["next_batch"])' runs/credits/metrics.jsonl)
SHRIKE_STOP_AT_ITERATION=$((iteration + 2)) "$shrike" resume runs/credits credit_limit=1000000 >credits2.log 2>&1
code=$?
[ "$code" -eq 4 ] || fail "resumed credit run exited $code, expected 4 (test hook): $(tail -3 credits2.log)"
[ "$(grep -c '"start"' runs/credits/usage.json)" -eq 2 ] || fail "usage.json should have 2 segments after resume"

# 6. SIGKILL at an arbitrary moment after the first checkpoint: last.h5 still loads,
#    metrics.jsonl parses (a torn last line is allowed), and the run resumes from it.
"$shrike" train "${common[@]}" epochs=400 name=killed >killed.log 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  grep -q '"event":"checkpoint"' runs/killed/metrics.jsonl 2>/dev/null && break
  sleep 0.1
done
sleep 0.$((RANDOM % 9 + 1))
kill -KILL "$pid"
wait "$pid" 2>/dev/null
"$shrike" model info runs/killed/weights/last.h5 >/dev/null || fail "last.h5 after SIGKILL does not load"
/usr/bin/python3 -c '
import json, sys
lines = open(sys.argv[1]).read().split("\n")
for line in lines[:-1]:
    json.loads(line)  # every complete line parses
' runs/killed/metrics.jsonl || fail "metrics.jsonl after SIGKILL has a corrupt complete line"
resumed_at=$(/usr/bin/python3 -c '
import h5py, json, sys
print(json.loads(h5py.File(sys.argv[1], "r").attrs["loop"])["iteration"])' runs/killed/weights/last.h5)
SHRIKE_STOP_AT_ITERATION=$((resumed_at + 2)) "$shrike" resume runs/killed >killed2.log 2>&1
code=$?
[ "$code" -eq 4 ] || fail "resume after SIGKILL exited $code, expected 4 (test hook): $(tail -3 killed2.log)"

# 7. bad keys
out=$("$shrike" train "${common[@]}" epoch=3 2>&1)
[ $? -eq 1 ] && grep -q "unknown key 'epoch'; did you mean 'epochs'" <<<"$out" || fail "bad key: $out"

finish "train lifecycle"
