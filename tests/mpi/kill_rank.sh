#!/usr/bin/env bash
# tests/mpi/kill_rank.sh MPIEXEC SHRIKE: one of two training ranks is killed (SIGKILL)
# mid-epoch. The whole job must end within 60 s with a message naming the dead rank
# and its cause, and the last good checkpoint must stay valid and resumable.
set -uo pipefail
mpiexec=$1
shrike=$2
source "$(dirname "$0")/../integration/train_fixture.sh"
cd "$work"
make_training_data "$shrike" 64 4 9
"$mpiexec" -np 2 --oversubscribe "$shrike" train model=yolov8n.yaml data=shards imgsz=64 batch=4 epochs=300 workers=1 \
  val=False "project=$work/runs" name=victim >job.log 2>&1 &
job=$!
# wait for the first epoch's checkpoint, then for the next epoch to be under way
for _ in $(seq 300); do [ -f runs/victim/weights/last.h5 ] && break; sleep 0.2; done
[ -f runs/victim/weights/last.h5 ] || fail "no checkpoint after 60 s: $(tail -3 job.log)"
sleep 1
rank1=""
for pid in $(pgrep -f "shrike train .*project=$work/runs"); do
  grep -qz '^OMPI_COMM_WORLD_RANK=1$' "/proc/$pid/environ" 2>/dev/null && rank1=$pid
done
[ -n "$rank1" ] || fail "rank 1's process not found"
cp runs/victim/weights/last.h5 before-kill.h5
killed_at=$(date +%s)
kill -9 "$rank1"
for _ in $(seq 90); do kill -0 "$job" 2>/dev/null || break; sleep 1; done
if kill -0 "$job" 2>/dev/null; then
  fail "the job still runs 90 s after rank 1 was killed"
  pkill -9 -f "shrike train .*project=$work/runs"
fi
wait "$job"
code=$?
elapsed=$(( $(date +%s) - killed_at ))
[ "$code" -ne 0 ] || fail "the job exited 0 although rank 1 was killed"
[ "$elapsed" -le 60 ] || fail "the job took ${elapsed} s to end"
grep -Eq "rank 1.*(signal 9|Killed)" job.log || fail "no message naming rank 1 and its signal: $(tail -5 job.log)"
"$shrike" model info runs/victim/weights/last.h5 >/dev/null 2>&1 || fail "last.h5 does not load after the kill"
# resume from it for a few seconds, then stop it as a user would (SIGINT: checkpoint, exit 4)
timeout --preserve-status -s INT 10 "$shrike" resume runs/victim >resume.log 2>&1
resume_code=$?
[ "$resume_code" -eq 4 ] || [ "$resume_code" -eq 0 ] || fail "the resumed run exited $resume_code, expected 4 (stopped by SIGINT): $(tail -3 resume.log)"
grep -q "resuming from" resume.log || fail "the run did not resume from its checkpoint: $(tail -3 resume.log)"
finish "rank 1 killed: the job ended in ${elapsed} s (exit $code): $(grep -Em1 'rank 1.*(signal 9|Killed)' job.log)"
