#!/usr/bin/env bash
# tests/slurm/bad_partition.sh SHRIKE ENV_FILE: when sbatch refuses the job (a site
# catalogue naming a partition the cluster does not have), submit exits 1 with Slurm's
# message, removes the run folder it made, releases the credit hold, and records no job.
set -uo pipefail
source "$(dirname "$0")/slurm_fixture.sh" "$1" "$2"
make_data
site=$work/site
cp -r "$SHRIKE_CONFIG_DIR" "$site"
sed -i 's/partition: test, gres_type: fake/partition: nosuchpartition, gres_type: fake/' "$site/instances.yaml"
export SHRIKE_CONFIG_DIR=$site

submit epochs=1 "project=$work/runs" --instance rtx4090
[ "$code" -eq 1 ] || fail "submit exited $code, expected 1: $out"
grep -qi "sbatch failed to submit .*invalid partition" <<<"$out" || fail "no clear sbatch error: $out"
grep -q "Nothing was submitted: the new run folder(s) were removed and no credits were held" <<<"$out" ||
  fail "no word on the clean-up: $out"
[ ! -e "$work/runs/exp" ] || fail "the run folder was left behind: $(ls "$work/runs/exp")"
[ -z "$job" ] || fail "a job id was printed: $job"
balance=$("$shrike" credits balance --format json)
grep -q '"held": "0.000000"' <<<"$balance" || fail "credits still held: $balance"
jobs=$("$shrike" jobs --all 2>&1)
grep -q "^no jobs" <<<"$jobs" || fail "the refused job was recorded: $jobs"
finish "bad partition: clear error, nothing held or recorded"
