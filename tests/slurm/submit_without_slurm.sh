#!/usr/bin/env bash
# tests/slurm/submit_without_slurm.sh SHRIKE: what `shrike submit` does without a
# cluster. --dry-run prints the plan (recommended instance and why, the estimate with
# its arithmetic, the time limit) and the rendered batch script, and creates nothing;
# without sbatch in PATH a submission says so and prints the equivalent local command;
# bad requests are errors that say what to change.
set -uo pipefail
shrike=$(realpath "$1")
source "$(dirname "$0")/../integration/train_fixture.sh"
cd "$work"
export SHRIKE_HOME=$work/home
unset SHRIKE_CONFIG_DIR SLURM_CONF
make_training_data "$shrike" 24 8 4
tiny=(model=yolov8n.yaml data=shards imgsz=64 batch=8 epochs=3 "project=$work/runs")

out=$("$shrike" submit "${tiny[@]}" --dry-run 2>&1) || fail "dry-run exited $?: $out"
for want in "instance    rtx4090" "24 training images (under 5,000): RTX 4090 24 GB" "from the catalogue" \
            "total: 3 epochs x" "credits/GPU-hour" "time limit  00:07:00" "#SBATCH --signal=B:USR1@120" \
            "#SBATCH --requeue" "#SBATCH --open-mode=append" "#SBATCH --output=$work/runs/exp/slurm-%j.out" \
            "#SBATCH --partition=gpu" "#SBATCH --gres=gpu:rtx4090:1" "srun --mpi=pmix --kill-on-bad-exit=1 \"\$shrike\" train" \
            "shrike='$shrike'" "--dry-run: nothing was created or submitted"; do
  grep -qF -- "$want" <<<"$out" || fail "dry-run output lacks [$want]"
done
[ ! -e "$work/runs" ] && [ ! -e "$SHRIKE_HOME" ] || fail "--dry-run created files: $(ls "$work")"
bash -n <(sed -n '/^#!\/bin\/bash/,/^exit "\$code"/p' <<<"$out") || fail "the rendered script is not valid bash"

out=$("$shrike" submit "${tiny[@]}" --dry-run --budget 2>&1)
grep -q "instance    rtx3090" <<<"$out" && grep -q -- "--budget: the cheapest GPU" <<<"$out" || fail "--budget: $out"
out=$("$shrike" submit "${tiny[@]}" --dry-run --instance h100-80gb --gpus 4 --nodes 2 2>&1)
grep -q "2 node(s) x 2 GPU(s)" <<<"$out" && grep -q "#SBATCH --ntasks-per-node=2" <<<"$out" &&
  grep -q "export SHRIKE_BILLED_GPUS=4" <<<"$out" || fail "4 GPUs on 2 nodes: $out"

check_error() {  # EXPECTED_TEXT ARGS...: exit 1 and the text
  local want=$1
  shift
  local out
  out=$("$shrike" submit "${tiny[@]}" "$@" 2>&1)
  [ $? -eq 1 ] && grep -qF -- "$want" <<<"$out" || fail "submit $* should fail with [$want]: $out"
}
check_error "batch=8 does not divide among 3 GPUs" --dry-run --gpus 3
check_error "--gpus 4 does not divide among --nodes 3" --dry-run --gpus 4 --nodes 3
check_error "unknown instance type 'a100'. Known instance types" --dry-run --instance a100
check_error "--sweep lr0: write KEY=V1,V2" --dry-run --sweep lr0
check_error "unknown key 'epoch'" --dry-run --sweep epoch=1,2

out=$(PATH=/nonexistent "$shrike" submit "${tiny[@]}" --instance rtx4090 2>&1)
[ $? -eq 1 ] || fail "submit without Slurm should exit 1: $out"
grep -q "Slurm is not installed here (no sbatch in PATH), so nothing was submitted" <<<"$out" ||
  fail "no word that Slurm is missing: $out"
grep -qF "$shrike train model=yolov8n.yaml data=shards imgsz=64 batch=8 epochs=3 project=$work/runs name=exp instance=rtx4090 account=" <<<"$out" ||
  fail "no equivalent local command: $out"
[ ! -e "$work/runs" ] || fail "submit without Slurm created a run folder"
out=$("$shrike" jobs 2>&1)
grep -q "^no jobs yet" <<<"$out" || fail "jobs without a registry: $out"
finish "submit without Slurm: dry-run plan and script, local command, clear errors"
