#!/usr/bin/env bash
# tests/integration/accounting_cli.sh SHRIKE: `shrike credits` and `shrike accounting`
# through the real binary on a real ledger file: help, top-ups with idempotency keys,
# balance and history (table and JSON), settling run folders (a repeat charges 0),
# refusal of bad usage.json with nothing written, reports whose total equals the
# revenue account, reconcile against a jobcomp log, backup and the integrity check.
set -uo pipefail
shrike=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SHRIKE_LEDGER=$work/site/ledger.db TZ=UTC
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

expect() {  # expect CODE PATTERN -- ARGS...
  local code=$1 pattern=$2; shift 3
  local output status
  output=$("$shrike" "$@" 2>&1); status=$?
  [ "$status" -eq "$code" ] || fail "shrike $* exited $status, expected $code: $output"
  grep -qE -- "$pattern" <<<"$output" || fail "shrike $*: output lacks /$pattern/: $output"
}

usage_json() {  # usage_json DIR GPUS END [JOB_ID]
  mkdir -p "$1"
  cat >"$1/usage.json" <<JSON
{"version": 1, "cluster": "local", "account": "alice", "user": "alice", "project": "coco", "run": "$(basename "$1")",
 "job_id": "${4:-}", "instance": "rtx4090", "gpus": $2,
 "segments": [{"start": "2026-01-10T10:00:00Z", "end": "$3"}]}
JSON
}

expect 0 "usage: shrike credits balance" -- credits --help
expect 0 "usage: shrike accounting settle" -- accounting --help
expect 1 "unknown action 'spend'" -- credits spend
expect 1 "needs --account A and --amount X" -- credits topup --account alice
expect 1 "'12,5' is not a credit amount" -- credits topup --account alice --amount 12,5
expect 0 "no ledger entries yet" -- credits balance --account alice
expect 0 "topup of 10.00 credits to account alice" -- credits topup --account alice --amount 10 --key inv-1
expect 0 "recorded before: nothing added" -- credits topup --account alice --amount 10 --key inv-1
expect 0 "balance 15.00 credits \(15.00 available" -- credits balance --account alice
expect 0 "grant of 2.50 credits" -- credits grant --account alice --amount 2.5 --memo "course"
expect 0 '"balance": "17.500000"' -- credits balance --account alice --format json
expect 0 "topup +10.00 +10.00 .*\[topup:inv-1\]" -- credits history --account alice
[ "$(stat -c %a "$SHRIKE_LEDGER")" = 600 ] || fail "the ledger's mode is $(stat -c %a "$SHRIKE_LEDGER"), not 600"

# Settling: 4 GPUs x 1.5 h of rtx4090 at 0.74 = 4.44; a repeat charges 0; growth charges the rest.
usage_json "$work/runs/exp1" 4 "2026-01-10T11:30:00Z"
expect 0 "charged 4.44 credits" -- accounting settle "$work/runs/exp1"
expect 0 "charged 0.00 credits" -- accounting settle "$work/runs/exp1"
usage_json "$work/runs/exp1" 4 "2026-01-10T12:00:00Z"
expect 0 "charged 1.48 credits" -- accounting settle "$work/runs/exp1"
expect 0 "balance 11.58 credits" -- credits balance --account alice

# Bad input: refused, named, nothing written (the good folder in the same call is not charged either).
usage_json "$work/runs/exp2" 2 "2026-01-10T11:00:00Z"
mkdir -p "$work/runs/bad" && echo '{"instance": "rtx4090", "gpus": 2, "segments": [{"start": "2026-01-10T10:00:00Z", "end": "2026-01-10T09:00:00Z"}]}' >"$work/runs/bad/usage.json"
expect 1 "bad/usage.json: segments\[0\]: it ends .* before it starts" -- accounting settle "$work/runs/exp2" "$work/runs/bad"
echo '{"instance": "rtx4090", "gpus": 2, "segments": [' >"$work/runs/bad/usage.json"
expect 1 "not valid JSON" -- accounting settle "$work/runs/bad"
expect 0 "balance 11.58 credits" -- credits balance --account alice
expect 1 "needs run folders, --job ID or --all" -- accounting settle

# Reports: every grouping's total equals the revenue account (5.92 credits).
check='
import json, sys
report = json.load(sys.stdin)
rows = sum(row["credits_micro"] for row in report["rows"])
assert rows == report["total"]["credits_micro"] == report["revenue_balance_micro"] == 5920000, (sys.argv[1], rows)
assert sum(row["gpu_seconds"] for row in report["rows"]) == report["total"]["gpu_seconds"] == 4 * 7200
'
for by in account user project instance job day month; do
  json=$("$shrike" accounting report --by "$by" --format json) || fail "report --by $by failed"
  python3 -c "$check" "$by" <<<"$json" || fail "report --by $by does not add up: $json"
done
expect 0 "^total,28800,8.0000,5.920000,2" -- accounting report --format csv
expect 0 "total +8.00 +5.92" -- accounting report --by day --from 2026-01-01 --to 2026-01-31
expect 1 "--by colour is not a report grouping" -- accounting report --by colour

# Reconcile: a Slurm job charged from usage.json (--from-usage) that the jobcomp log says ran 2 h,
# and another job the log knows but shrike does not.
usage_json "$work/runs/exp3" 1 "2026-01-11T11:00:00Z" 777
sed -i 's/2026-01-10T10:00:00Z/2026-01-11T10:00:00Z/' "$work/runs/exp3/usage.json"
expect 0 "Slurm has no record of it yet" -- accounting settle "$work/runs/exp3"
expect 0 "charged 0.74 credits" -- accounting settle "$work/runs/exp3" --from-usage
cat >"$work/jobcomp.log" <<'LOG'
JobId=777 UserId=alice(1000) GroupId=alice(1000) Name=train JobState=COMPLETED Partition=gpu TimeLimit=60 StartTime=2026-01-11T10:00:00 EndTime=2026-01-11T12:00:00 NodeList=n1 NodeCnt=1 ProcCnt=8 WorkDir=/tmp ReservationName= Tres=cpu=8,node=1,billing=8 Account= QOS=normal WcKey= Cluster=local SubmitTime=2026-01-11T09:59:00 EligibleTime=2026-01-11T09:59:00 DerivedExitCode=0:0 ExitCode=0:0
JobId=778 UserId=bob(1001) GroupId=bob(1001) Name=other JobState=COMPLETED Partition=gpu TimeLimit=60 StartTime=2026-01-11T10:00:00 EndTime=2026-01-11T10:10:00 NodeList=n1 NodeCnt=1 ProcCnt=8 WorkDir=/tmp ReservationName= Tres=cpu=8,node=1,billing=8 Account= QOS=normal WcKey= Cluster=local SubmitTime=2026-01-11T09:59:00 EligibleTime=2026-01-11T09:59:00 DerivedExitCode=0:0 ExitCode=0:0
LOG
expect 0 "gpu_time_mismatch +local:777 .*slurm +7200 GPU-s +charged +3600" -- accounting reconcile --jobcomp "$work/jobcomp.log"
expect 0 "1 other Slurm job" -- accounting reconcile --jobcomp "$work/jobcomp.log"
# Settling the run folder again now uses Slurm's record: the missing hour is charged.
expect 0 "charged 0.74 credits" -- accounting settle "$work/runs/exp3" --jobcomp "$work/jobcomp.log"
expect 0 "0 finding" -- accounting reconcile --jobcomp "$work/jobcomp.log"

# Backup and integrity.
expect 0 "integrity ok" -- accounting backup "$work/backup.db"
[ "$(stat -c %a "$work/backup.db")" = 600 ] || fail "backup mode is not 600"
SHRIKE_LEDGER=$work/backup.db expect 0 "balance 10.10 credits" -- credits balance --account alice
expect 0 "is consistent" -- accounting check
expect 0 "no ledger entries|balance" -- credits balance --account nobody-yet

if [ "$failures" -ne 0 ]; then
  echo "accounting_cli: $failures failure(s)"
  exit 1
fi
echo "accounting_cli: all checks passed"
