#!/usr/bin/env bash
# tests/slurm/kill_rank.sh SHRIKE ENV_FILE: issue 5's fault test under srun. A job of 2
# ranks (srun --mpi=pmix --kill-on-bad-exit=1, from the batch template) loses rank 1 to
# SIGKILL mid-epoch: the whole job must end within 60 s, Slurm's output must name the
# killed task, the job is not requeued (it failed; it was not preempted), and the last
# checkpoint stays valid.
set -uo pipefail
source "$(dirname "$0")/slurm_fixture.sh" "$1" "$2"
"$shrike" synth --out synth --train 64 --val 4 --seed 4 >/dev/null 2>&1 || { echo "synth failed"; exit 1; }
"$shrike" shard synth/data.yaml --out shards --imgsz 64 --quiet >/dev/null || { echo "shard failed"; exit 1; }

submit epochs=200 batch=4 val=False "project=$work/runs" --instance rtx4090 --gpus 2 || fail "submit exited $code: $out"
run=$work/runs/exp
wait_for 240 test -f "$run/weights/last.h5" || fail "no checkpoint within 240 s: $(tail -5 "$run"/slurm-*.out)"
rank1=""
for pid in $(pgrep -f "shrike (train|resume) "); do
  grep -qz '^SLURM_PROCID=1$' "/proc/$pid/environ" 2>/dev/null && grep -qz "^SLURM_JOB_ID=$job\$" "/proc/$pid/environ" &&
    rank1=$pid
done
[ -n "$rank1" ] || fail "rank 1 of job $job not found"
cp "$run/weights/last.h5" before-kill.h5
killed_at=$SECONDS
kill -9 "$rank1"
wait_for 90 job_ended "$job" || fail "job $job still $(job_state "$job") 90 s after rank 1 was killed"
elapsed=$((SECONDS - killed_at))
[ "$elapsed" -le 60 ] || fail "job $job took $elapsed s to end after rank 1 was killed"
state=$(job_state "$job")
[ "$state" != COMPLETED ] || fail "job $job completed although rank 1 was killed"
grep -Eq "task 1.*(Killed|signal 9)|rank 1.*(Killed|signal 9)" "$run"/slurm-*.out ||
  fail "Slurm's output does not name the killed task: $(tail -8 "$run"/slurm-*.out)"
! grep -q "requeueing job" "$run"/slurm-*.out || fail "the failed job was requeued"
"$shrike" model info "$run/weights/last.h5" >/dev/null 2>&1 || fail "last.h5 does not load after the kill"
finish "rank 1 killed under srun: job ended in $elapsed s ($state): $(grep -Eom1 "task 1.*(Killed|signal 9)" "$run"/slurm-*.out)"
