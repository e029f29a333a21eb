#!/usr/bin/env bash
# tests/slurm/policy_one_job.sh SHRIKE ENV_FILE: one running or pending training job per
# account (the default policy): a second submission is refused, naming the job that
# blocks it, and creates nothing; other accounts may submit. A job that never started
# (pending: the 2-CPU node is busy) is cancelled at once, its run folder says
# `cancelled` and its credit hold is released; a running job cancelled by
# `shrike cancel` ends CANCELLED and is not requeued; then the account may submit again.
set -uo pipefail
source "$(dirname "$0")/slurm_fixture.sh" "$1" "$2"
make_data
held() { "$shrike" credits balance --account "$1" --format json | sed -n 's/.*"held": "\([0-9.]*\)".*/\1/p'; }

submit epochs=500 "project=$work/runs" name=first --instance rtx4090 || fail "first submit: $out"
first=$job
submit epochs=1 "project=$work/runs" name=second --instance rtx4090
[ "$code" -eq 1 ] || fail "second submit of account root exited $code, expected 1: $out"
grep -q "account 'root' already has 1 running or pending training job" <<<"$out" && grep -q "$first" <<<"$out" ||
  fail "refusal message: $out"
[ ! -e "$work/runs/second" ] || fail "the refused submission created a run folder"
[ "$(squeue -h -o %i | wc -l)" -eq 1 ] || fail "squeue shows more than the first job: $(squeue)"

submit epochs=500 "project=$work/runs" name=other --instance rtx4090 --account teamb || fail "account teamb: $out"
other=$job
wait_for 30 job_running "$other" || fail "teamb's job is $(job_state "$other")"
submit epochs=1 "project=$work/runs" name=waiting --instance rtx4090 --account teamc || fail "account teamc: $out"
waiting=$job
[ "$(job_state "$waiting")" = PENDING ] || fail "teamc's job should wait for CPUs: $(job_state "$waiting")"
[ "$(held teamc)" != "0.000000" ] || fail "teamc holds nothing after submitting"
"$shrike" cancel "$waiting" >cancel_waiting.log 2>&1 || fail "cancel $waiting: $(cat cancel_waiting.log)"
grep -q "had not started: cancelled; its credit hold was released" cancel_waiting.log ||
  fail "cancel of a pending job: $(cat cancel_waiting.log)"
[ "$(run_state "$work/runs/waiting")" = cancelled ] || fail "run state: $(cat "$work/runs/waiting/status.json")"
[ "$(held teamc)" = "0.000000" ] || fail "teamc still holds $(held teamc) credits"
"$shrike" cancel "$other" >/dev/null 2>&1 || fail "cancel $other"

"$shrike" cancel "$first" >cancel.log 2>&1 || fail "cancel exited $?: $(cat cancel.log)"
wait_for 60 job_ended "$first" || fail "job $first still $(job_state "$first") after cancel"
[ "$(job_state "$first")" = CANCELLED ] || fail "cancelled job is $(job_state "$first")"
[ -e "$work/runs/first/stop_requested" ] || fail "cancel left no stop_requested"
sleep 3
[ "$(job_state "$first")" = CANCELLED ] || fail "the cancelled job came back: $(job_state "$first")"
submit epochs=1 "project=$work/runs" name=third --instance rtx4090 || fail "submit after the cancel: $out"
"$shrike" cancel "$job" >/dev/null 2>&1
jobs=$("$shrike" jobs --all 2>&1)
grep -qE "^$first +cancelled" <<<"$jobs" || fail "shrike jobs after cancel: $jobs"
finish "policy: one active job per account; cancel frees the slot and releases unused holds"
