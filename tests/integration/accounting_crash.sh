#!/usr/bin/env bash
# tests/integration/accounting_crash.sh SHRIKE: kill -9 a settle in the middle of a
# batch, repeatedly, through the real binary. After every kill the ledger must be
# consistent (`shrike accounting check`: entries sum to zero, balances match their
# entries); a rerun must complete the batch, and the final revenue must equal that of
# a ledger that settled the same batch without interruption (and a repeat charges 0).
set -uo pipefail
shrike=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# 200 run folders, 3 segments each (GPUs 1..4, January 2026).
python3 - "$work/runs" <<'PY'
import json, os, random, sys
random.seed(5)
for r in range(200):
    folder = os.path.join(sys.argv[1], f"run{r:03}")
    os.makedirs(folder)
    segments, minute = [], 0
    for s in range(3):
        length = random.randint(1, 180)
        segments.append({"start": f"2026-01-{1 + r % 28:02}T{minute // 60:02}:{minute % 60:02}:00Z",
                         "end": f"2026-01-{1 + r % 28:02}T{(minute + length) // 60:02}:{(minute + length) % 60:02}:00Z",
                         "gpus": random.randint(1, 4)})
        minute += length + 5
    usage = {"account": f"acct{r % 5}", "user": "u", "project": "crash", "run": f"run{r:03}",
             "instance": "rtx4090", "gpus": 1, "segments": segments}
    json.dump(usage, open(os.path.join(folder, "usage.json"), "w"))
PY
runs=("$work"/runs/run*)

revenue() {  # revenue LEDGER: the report's exact total in micro-credits
  SHRIKE_LEDGER=$1 "$shrike" accounting report --format json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["total"]["credits_micro"])'
}

SHRIKE_LEDGER=$work/reference.db "$shrike" accounting settle --quiet "${runs[@]}" >/dev/null || fail "reference settle failed"
expected=$(revenue "$work/reference.db")

# Kills 1-3 land exactly mid-batch (the test hook pauses the settle after N folders,
# then SIGKILL); kills 4-8 come at random moments, wherever the settle then is.
export SHRIKE_LEDGER=$work/ledger.db
partial=0
last=0
for attempt in 1 2 3 4 5 6 7 8; do
  if [ "$attempt" -le 3 ]; then
    SHRIKE_TEST_SETTLE_PAUSE_AFTER=$((attempt * 50)) "$shrike" accounting settle --quiet "${runs[@]}" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do  # until 50 x attempt folders are committed (a CSV row each, plus header and total)
      [ "$("$shrike" accounting report --by job --format csv 2>/dev/null | wc -l)" -ge $((attempt * 50 + 2)) ] && break
      sleep 0.1
    done
  else
    "$shrike" accounting settle --quiet "${runs[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
  fi
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  [ -e "$SHRIKE_LEDGER" ] || continue
  "$shrike" accounting check >/dev/null 2>&1 || fail "after kill $attempt the ledger is inconsistent: $("$shrike" accounting check 2>&1)"
  now=$(revenue "$SHRIKE_LEDGER")
  if [ "$now" -gt "$last" ] && [ "$now" -lt "$expected" ]; then partial=$((partial + 1)); fi
  last=$now
done
[ "$partial" -ge 3 ] || fail "only $partial kills left a partly settled batch (expected at least the 3 paused ones)"
"$shrike" accounting settle --quiet "${runs[@]}" >/dev/null || fail "the rerun after the kills failed"
[ "$(revenue "$SHRIKE_LEDGER")" = "$expected" ] || fail "revenue $(revenue "$SHRIKE_LEDGER") after kills and rerun, expected $expected"
out=$("$shrike" accounting settle "${runs[@]}" 2>&1)
grep -q "charged 0.00 credits" <<<"$out" || fail "a repeat after completion charged something: $out"
"$shrike" accounting check >/dev/null || fail "final ledger inconsistent"

echo "accounting_crash: $partial of 8 kills landed mid-batch; final revenue $expected micro-credits matches"
if [ "$failures" -ne 0 ]; then
  echo "accounting_crash: $failures failure(s)"
  exit 1
fi
