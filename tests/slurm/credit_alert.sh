#!/usr/bin/env bash
# tests/slurm/credit_alert.sh SHRIKE ENV_FILE: an account that has spent more than 80 % of
# its credits gets the alert line in its job's log (the Slurm output in the run folder)
# and in `shrike jobs`. The spending comes from settling a made-up local run of 10
# GPU-hours on h100-80gb (39.90 credits); an admin top-up of 40 then lets a job start.
set -uo pipefail
source "$(dirname "$0")/slurm_fixture.sh" "$1" "$2"
make_data
mkdir -p spent/runs/old
cat >spent/runs/old/usage.json <<'JSON'
{"version": 1, "instance": "h100-80gb", "gpus": 1,
 "segments": [{"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T10:00:00Z"}]}
JSON
"$shrike" accounting settle spent/runs/old >settle.log 2>&1 || fail "settle exited $?: $(cat settle.log)"
"$shrike" credits topup --account root --amount 40 >topup.log 2>&1 || fail "topup exited $?: $(cat topup.log)"
"$shrike" credits balance | grep -q "warning: .*passed 80%" || fail "no alert from credits balance: $("$shrike" credits balance)"

submit epochs=1 "project=$work/runs" --instance rtx4090 || fail "submit exited $code: $out"
wait_for 240 job_ended "$job" || fail "job $job did not end in 240 s"
grep -q "shrike-job credits warning: .*passed 80%" "$work"/runs/exp/slurm-*.out ||
  fail "the job log has no credit alert: $(head -5 "$work"/runs/exp/slurm-*.out)"
"$shrike" jobs 2>&1 | grep -q "warning: .*passed 80%" || fail "shrike jobs shows no alert: $("$shrike" jobs 2>&1)"
finish "credit alert at 80 % in the job log and in shrike jobs"
