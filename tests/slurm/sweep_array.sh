#!/usr/bin/env bash
# tests/slurm/sweep_array.sh SHRIKE ENV_FILE: `--sweep lr0=0.01,0.02` is one Slurm job
# array with one run per value, in the same project; each task trains its own run
# (its own config.yaml, its Slurm output inside its run folder) and `shrike compare`
# reads them side by side with lr0 as the setting that differs.
set -uo pipefail
source "$(dirname "$0")/slurm_fixture.sh" "$1" "$2"
make_data
submit epochs=1 "project=$work/sweep" --instance rtx4090 --sweep lr0=0.01,0.02 || fail "submit: $out"
grep -q "a job array of 2 runs" <<<"$out" || fail "not one job array: $out"
a=$work/sweep/exp-lr0-0.01
b=$work/sweep/exp-lr0-0.02
grep -q "^lr0: 0.01$" "$a/config.yaml" && grep -q "^lr0: 0.02$" "$b/config.yaml" || fail "per-run lr0 not in config.yaml"
[ "$(squeue -h -r -j "$job" -t all -o %i | sort | tr '\n' ' ')" = "${job}_0 ${job}_1 " ] ||
  fail "array tasks: $(squeue -h -r -j "$job" -t all -o %i)"
both_done() { job_ended "${job}_0" && job_ended "${job}_1"; }
wait_for 240 both_done || fail "the array did not end in 240 s"
for task in 0 1; do
  [ "$(job_state "${job}_$task")" = COMPLETED ] || fail "task $task ended $(job_state "${job}_$task")"
done
[ "$(run_state "$a")" = completed ] && [ "$(run_state "$b")" = completed ] || fail "run states: $(run_state "$a") $(run_state "$b")"
[ -s "$a/slurm-${job}_0.out" ] && [ -s "$b/slurm-${job}_1.out" ] || fail "Slurm output not in the run folders: $(ls "$a" "$b")"
compare=$("$shrike" compare "$work/sweep" 2>&1) || fail "compare: $compare"
grep -q "lr0" <<<"$compare" && grep -q "exp-lr0-0.01" <<<"$compare" && grep -q "exp-lr0-0.02" <<<"$compare" ||
  fail "compare: $compare"
jobs=$("$shrike" jobs 2>&1)
grep -qE "^${job}_0 +completed" <<<"$jobs" && grep -qE "^${job}_1 +completed" <<<"$jobs" || fail "jobs: $jobs"
finish "sweep: one job array, two runs, compared"
