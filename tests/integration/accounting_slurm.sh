#!/usr/bin/env bash
# tests/integration/accounting_slurm.sh SHRIKE SHRIKE_LEDGER_HELPER: settlement from a
# real Slurm's record. On the single-node test cluster (slurm/testcluster, jobcomp/
# filetxt): a hold is placed and bound to an sbatch job as the scheduler does; while the
# job runs nothing is charged; once it ends `settle --job ID --wait` (the epilog's call)
# charges 2 GPUs x Slurm's elapsed time and releases the rest of the hold; a requeued
# job is charged per run; an EpilogSlurmctld deployed as slurm/README.md says settles a
# job by itself; reconcile finds nothing; a repeat charges 0. Exit 77 where
# the test cluster cannot run (not root, Slurm or munge missing).
set -uo pipefail
shrike=$(realpath "$1")
helper=$(realpath "$2")
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
cluster_env=$("$repo/slurm/testcluster/start.sh")
status=$?
if [ "$status" -eq 77 ]; then rm -rf "$work"; echo "SKIP: the Slurm test cluster cannot run here"; exit 77; fi
[ "$status" -eq 0 ] || { rm -rf "$work"; echo "FAIL: the Slurm test cluster did not start"; exit 1; }
eval "$cluster_env"
trap '"$repo/slurm/testcluster/stop.sh" "$SHRIKE_TESTCLUSTER_DIR" >/dev/null 2>&1; rm -rf "$work"' EXIT
export SHRIKE_LEDGER=$work/ledger.db PATH=$PATH:/usr/sbin
jobcomp=$SHRIKE_TESTCLUSTER_DIR/jobcomp.log
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

hold() {  # hold KEY: 2 rtx4090 GPUs for 10 minutes (timed), account alice
  "$helper" hold "{\"job_key\": \"$1\", \"account\": \"alice\", \"user\": \"alice\", \"project\": \"p\", \"run\": \"r\",
                   \"instance\": \"rtx4090\", \"gpus\": 2, \"estimated_seconds\": 600, \"timed\": true}" >/dev/null ||
    fail "hold $1 failed"
}
wait_gone() {  # wait_gone JOB: until Slurm no longer lists it as pending or running
  for _ in $(seq 1 240); do
    [ -z "$(squeue -h -j "$1" -t pending,running,completing,configuring -o %A 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  fail "job $1 did not finish in 120 s"
}
elapsed_of() {  # elapsed_of JOB: Slurm's elapsed seconds over all its runs, from the jobcomp log
  python3 - "$jobcomp" "$1" <<'PY'
import datetime, re, sys
total = 0
for line in open(sys.argv[1]):
    fields = dict(re.findall(r"(\w+)=(\S*)", line))
    if fields.get("JobId") == sys.argv[2] and fields.get("StartTime", "Unknown") != "Unknown":
        parse = lambda t: datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S")
        total += int((parse(fields["EndTime"]) - parse(fields["StartTime"])).total_seconds())
print(total)
PY
}
charged_gpu_seconds() {
  "$shrike" accounting report --by job --format json |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print(sum(x["gpu_seconds"] for x in r["rows"] if x["key"] == sys.argv[1]))' "shriketest:$1"
}

# A job that runs 6 s.
hold shriketest:u1
job=$(sbatch --parsable -p test -o /dev/null --wrap "sleep 6") || fail "sbatch failed"
"$helper" bind shriketest:u1 shriketest "$job" >/dev/null || fail "bind failed"
sleep 2
out=$("$shrike" accounting settle --job "$job" 2>&1)
grep -q "charged 0.00 credits" <<<"$out" || fail "a running job was charged: $out"
wait_gone "$job"
out=$("$shrike" accounting settle --job "$job" --wait 30 2>&1) || fail "settle --job failed: $out"
grep -q "hold shriketest:u1 released" <<<"$out" || fail "the hold was not released: $out"
elapsed=$(elapsed_of "$job")
[ "$elapsed" -ge 5 ] || fail "Slurm recorded $elapsed s for a 6 s job"
[ "$(charged_gpu_seconds "$job")" = "$((2 * elapsed))" ] || fail "charged $(charged_gpu_seconds "$job") GPU-s, Slurm says 2 x $elapsed"
out=$("$shrike" accounting settle --job "$job" 2>&1)
grep -q "charged 0.00 credits" <<<"$out" || fail "a repeat settle charged again: $out"

# A job requeued while running: one segment per run, the hold closed only at the end.
hold shriketest:u2
job2=$(sbatch --parsable -p test -o /dev/null --requeue --wrap "sleep 5") || fail "sbatch failed"
"$helper" bind shriketest:u2 shriketest "$job2" >/dev/null || fail "bind failed"
for _ in $(seq 1 40); do [ "$(squeue -h -j "$job2" -o %T)" = RUNNING ] && break; sleep 0.25; done
sleep 2
scontrol requeue "$job2" || fail "scontrol requeue failed"
sleep 1
out=$("$shrike" accounting settle --job "$job2" --wait 5 2>&1)
grep -q "hold shriketest:u2 released" <<<"$out" && fail "the hold of a requeued job was released before its last run: $out"
wait_gone "$job2"
out=$("$shrike" accounting settle --all --wait 30 2>&1) || fail "settle --all failed: $out"
grep -q "hold shriketest:u2 released" <<<"$out" || fail "the requeued job's hold was not released: $out"
runs=$(grep -c "JobId=$job2 " "$jobcomp")
[ "$runs" -ge 2 ] || fail "expected 2 jobcomp lines for the requeued job, found $runs"
[ "$(charged_gpu_seconds "$job2")" = "$((2 * $(elapsed_of "$job2")))" ] || fail "requeued job charged $(charged_gpu_seconds "$job2") GPU-s, Slurm says 2 x $(elapsed_of "$job2")"

# The deployment of slurm/README.md § Accounting: EpilogSlurmctld settles the job by itself.
cat >"$work/epilog.sh" <<EPILOG
#!/bin/sh
export SHRIKE_LEDGER=$SHRIKE_LEDGER SHRIKE_CONFIG_DIR=$SHRIKE_CONFIG_DIR SLURM_CONF=$SLURM_CONF
exec $shrike accounting settle --job "\$SLURM_JOB_ID" --wait 30 --quiet >>$work/epilog.log 2>&1
EPILOG
chmod 755 "$work/epilog.sh"
echo "EpilogSlurmctld=$work/epilog.sh" >>"$SLURM_CONF"
# slurmctld's script runner reads EpilogSlurmctld at start (reconfigure is not enough):
# restart this cluster's own slurmctld, by its pid file.
ctld=$(cat "$SHRIKE_TESTCLUSTER_DIR/slurmctld.pid")
tr '\0' ' ' <"/proc/$ctld/cmdline" | grep -qF "$SLURM_CONF" || fail "pid $ctld is not this cluster's slurmctld"
kill "$ctld"
for _ in $(seq 1 50); do [ -d "/proc/$ctld" ] || break; sleep 0.2; done
slurmctld -f "$SLURM_CONF" || fail "slurmctld did not restart"
for _ in $(seq 1 100); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break; sleep 0.2; done
hold shriketest:u3
job3=$(sbatch --parsable -p test -o /dev/null --wrap "sleep 3") || fail "sbatch failed"
"$helper" bind shriketest:u3 shriketest "$job3" >/dev/null || fail "bind failed"
wait_gone "$job3"
settled=""
for _ in $(seq 1 80); do
  "$shrike" accounting holds --state closed | grep -q "shriketest:u3" && { settled=yes; break; }
  sleep 0.5
done
[ -n "$settled" ] || fail "the epilog did not settle job $job3: $(cat "$work/epilog.log" 2>&1)"
[ "$(charged_gpu_seconds "$job3")" = "$((2 * $(elapsed_of "$job3")))" ] || fail "epilog charged $(charged_gpu_seconds "$job3") GPU-s, Slurm says 2 x $(elapsed_of "$job3")"

out=$("$shrike" accounting reconcile 2>&1)
grep -q "3 shrike job(s) compared with jobcomp log .*, 0 finding" <<<"$out" || fail "reconcile: $out"
"$shrike" accounting check >/dev/null || fail "ledger inconsistent: $("$shrike" accounting check 2>&1)"
"$shrike" credits balance --account alice

if [ "$failures" -ne 0 ]; then
  echo "accounting_slurm: $failures failure(s)"
  exit 1
fi
echo "accounting_slurm: all checks passed"
