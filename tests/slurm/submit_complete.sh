#!/usr/bin/env bash
# tests/slurm/submit_complete.sh SHRIKE ENV_FILE: `shrike submit` on the test cluster: a
# tiny training job on 2 (fake) GPUs runs as 2 ranks under srun --mpi=pmix, on the CPU
# (train.log says so), completes, and leaves its run folder: config.yaml, the batch
# script, Slurm's output, results, weights; usage.json bills the 2 GPUs Slurm allocated
# on instance rtx4090 of cluster shriketest; `shrike jobs` shows it completed.
set -uo pipefail
source "$(dirname "$0")/slurm_fixture.sh" "$1" "$2"
make_data

submit epochs=2 "project=$work/runs" --instance rtx4090 --gpus 2 || fail "submit exited $code: $out"
run=$work/runs/exp
grep -q "submitted job $job" <<<"$out" && grep -q "run folder   $run" <<<"$out" || fail "submit output: $out"
[ "$(run_state "$run")" = pending ] || [ "$(run_state "$run")" = running ] || [ "$(run_state "$run")" = completed ] ||
  fail "state right after submit: $(cat "$run/status.json")"
grep -q "\"job_id\": \"$job\"" "$run/status.json" || [ "$(run_state "$run")" != pending ] ||
  fail "pending status.json lacks the job id: $(cat "$run/status.json")"
scontrol show job "$job" | grep -q "gres/gpu:fake=2\|gres:gpu:fake:2\|gpu:fake:2" || fail "job $job did not get 2 fake GPUs: $(scontrol show job "$job" | grep -i tres)"

wait_for 240 job_ended "$job" || fail "job $job did not end in 240 s (state $(job_state "$job"))"
[ "$(job_state "$job")" = COMPLETED ] || fail "job $job ended $(job_state "$job"): $(tail -5 "$run"/slurm-*.out)"
[ "$(run_state "$run")" = completed ] || fail "run state: $(cat "$run/status.json")"
for f in config.yaml train.sbatch "slurm-$job.out" results.csv usage.json train.log weights/last.h5 weights/best.h5; do
  [ -e "$run/$f" ] || fail "run folder lacks $f"
done
[ "$(wc -l <"$run/results.csv")" -eq 3 ] || fail "results.csv: $(cat "$run/results.csv")"
grep -q "no usable GPU, training on CPU" "$run/train.log" || fail "train.log does not say it trains on CPU"
/usr/bin/python3 - "$run/usage.json" "$job" <<'PY' || fail "usage.json: $(cat "$run/usage.json")"
import json, sys
usage = json.load(open(sys.argv[1]))
assert usage["gpus"] == 2 and usage["instance"] == "rtx4090" and usage["cluster"] == "shriketest", usage
assert usage["job_id"] == sys.argv[2] and len(usage["segments"]) == 1, usage
PY
grep -q "world size 2\|\"world_size\": 2" "$run/run.json" || fail "run.json does not record 2 ranks: $(cat "$run/run.json")"
jobs=$("$shrike" jobs 2>&1)
grep -E "^$job +completed +completed +[0-9hms]+ +2/2 " <<<"$jobs" || fail "shrike jobs: $jobs"
grep -q "account root: balance" <<<"$jobs" || fail "shrike jobs shows no balance: $jobs"

finish "submit: a tiny job on 2 fake GPUs completed with its run folder"
