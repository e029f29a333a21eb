#!/usr/bin/env bash
# tests/slurm/time_limit_requeue.sh SHRIKE ENV_FILE: a job reaching its time limit is
# warned (SIGUSR1, --signal=B:USR1@lead), checkpoints, requeues itself (scontrol
# requeue), starts again with SLURM_RESTART_COUNT=1, resumes from weights/last.h5 and
# finishes, appending to the same run folder and output file. The time limit is cut to
# 2 minutes while the job trains (the signal lead is 120 s, so Slurm warns at its next
# check) and raised again once the warning arrived, so the second start is not warned
# at once too. The run is timed (time=0.025: 90 s of training in all), so it outlasts
# the warning and then finishes whatever the machine's speed.
set -uo pipefail
source "$(dirname "$0")/slurm_fixture.sh" "$1" "$2"
make_data
run=$work/runs/exp
training() { grep -q '"type":"train"' "$run/metrics.jsonl" 2>/dev/null; }
warned() { grep -q "SIGUSR1" "$run/slurm-$job.out" 2>/dev/null; }
restarted() { grep -q "start 1: resuming" "$run/slurm-$job.out" 2>/dev/null; }

submit epochs=100000 time=0.025 val=False patience=0 "project=$work/runs" --instance rtx4090 || fail "submit: $out"
grep -q -- "--signal=B:USR1@120" "$run/train.sbatch" && grep -q -- "--requeue" "$run/train.sbatch" ||
  fail "the batch script lacks the signal or --requeue"
wait_for 120 training || fail "the job did not start training in 120 s"
scontrol update jobid="$job" timelimit=2 || fail "scontrol update timelimit failed"
wait_for 150 warned || fail "no SIGUSR1 within 150 s of the time limit change: $(tail -5 "$run/slurm-$job.out")"
grep -q "training completed" "$run/slurm-$job.out" && fail "the run finished before the warning; lengthen time="
scontrol update jobid="$job" timelimit=30 || fail "raising the time limit failed"
wait_for 120 restarted || fail "the job did not restart: $(tail -8 "$run/slurm-$job.out")"
grep -q "requeueing job" "$run/slurm-$job.out" || fail "the script did not requeue"
scontrol show job "$job" | grep -q "Restarts=1" || fail "Slurm shows no restart: $(scontrol show job "$job" | grep Restarts)"
wait_for 300 job_ended "$job" || fail "job $job did not end in 300 s"
[ "$(job_state "$job")" = COMPLETED ] || fail "job ended $(job_state "$job"): $(tail -5 "$run/slurm-$job.out")"
[ "$(run_state "$run")" = completed ] || fail "state: $(cat "$run/status.json")"
grep -q '"reason": "time limit' "$run/status.json" || grep -q '"reason": "time' "$run/status.json" ||
  fail "the run did not end on its time= budget: $(cat "$run/status.json")"
[ "$(grep -c '"start"' "$run/usage.json")" -eq 2 ] || fail "usage.json should have 2 segments: $(cat "$run/usage.json")"
grep -q '"state": "preempted"\|"event":"stop"' "$run/metrics.jsonl" 2>/dev/null || grep -q "preempted" "$run/train.log" ||
  fail "the trainer did not record the preemption"
finish "time limit: warned, checkpointed, requeued and finished"
