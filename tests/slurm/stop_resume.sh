#!/usr/bin/env bash
# tests/slurm/stop_resume.sh SHRIKE ENV_FILE: `shrike stop JOB` records the stop, the
# trainer checkpoints and exits (state stopped) and the job is not requeued; `shrike
# resume` (the job id with --dry-run, then the run folder, which the registry knows was
# submitted) resubmits it after the same checks (its estimate now from the run's measured
# throughput), and the resumed job continues from weights/last.h5 to the planned final
# epoch, appending to the same run (two usage segments, one per job; results.csv one row
# per epoch).
set -uo pipefail
source "$(dirname "$0")/slurm_fixture.sh" "$1" "$2"
make_data
epochs=60
run=$work/runs/exp
training() { grep -q '"type":"train"' "$run/metrics.jsonl" 2>/dev/null; }

submit epochs=$epochs val=False "project=$work/runs" --instance rtx4090 || fail "submit: $out"
first=$job
wait_for 180 training || fail "no training in 180 s: $(tail -3 "$run/slurm-$first.out")"
"$shrike" stop "$first" >stop.log 2>&1 || fail "stop exited $?: $(cat stop.log)"
grep -q "asked to checkpoint and stop" stop.log || fail "stop said: $(cat stop.log)"
wait_for 60 job_ended "$first" || fail "job $first still $(job_state "$first") 60 s after stop"
[ "$(run_state "$run")" = stopped ] || fail "state after stop: $(cat "$run/status.json")"
grep -q "stopped on request" "$run/slurm-$first.out" || fail "the script did not see the stop: $(tail -5 "$run/slurm-$first.out")"
sleep 3
[ "$(job_state "$first")" = COMPLETED ] || fail "the stopped job is $(job_state "$first") (requeued?)"
done_rows=$(($(wc -l <"$run/results.csv") - 1))
[ "$done_rows" -lt "$epochs" ] || fail "the job finished all $epochs epochs before the stop reached it"

"$shrike" resume "$first" --dry-run >dry.log 2>&1 || fail "resume --dry-run: $(cat dry.log)"
grep -q "resuming $run" dry.log && grep -q -- "--dry-run: nothing was created or submitted" dry.log ||
  fail "resume --dry-run said: $(cat dry.log)"
grep -q "throughput, measured: 1 past run(s) of yours on rtx4090" dry.log ||
  fail "the estimate did not use the first job's measured throughput: $(grep -A2 estimate dry.log)"
out=$("$shrike" resume "$run" 2>&1) || fail "resume exited $?: $out"
second=$(sed -n 's/^submitted job \([0-9]*\).*/\1/p' <<<"$out")
[ -n "$second" ] && [ "$second" != "$first" ] || fail "resume did not submit a new job: $out"
echo "$second" >>"$work/jobs"
[ ! -e "$run/stop_requested" ] || fail "the resubmission left stop_requested in place"
wait_for 240 job_ended "$second" || fail "job $second did not end in 240 s"
[ "$(job_state "$second")" = COMPLETED ] || fail "resumed job ended $(job_state "$second"): $(tail -5 "$run/slurm-$second.out")"
[ "$(run_state "$run")" = completed ] || fail "state after resume: $(cat "$run/status.json")"
grep -q "resuming $run from weights/last.h5" "$run/slurm-$second.out" || fail "the job did not resume from last.h5"
[ "$(tail -1 "$run/results.csv" | cut -d, -f1)" = "$epochs" ] || fail "final epoch: $(tail -1 "$run/results.csv")"
[ "$(wc -l <"$run/results.csv")" -eq $((epochs + 1)) ] || fail "results.csv rows: $(wc -l <"$run/results.csv")"
/usr/bin/python3 - "$run/usage.json" "$first" "$second" <<'PY' || fail "usage.json: $(cat "$run/usage.json")"
import json, sys
usage = json.load(open(sys.argv[1]))
segments = usage["segments"]
assert len(segments) == 2, segments
assert usage["job_id"] == sys.argv[2] and segments[1].get("job_id") == sys.argv[3], usage
PY
finish "stop and resume: the run continued to epoch $epochs"
