#!/usr/bin/env bash
# tests/slurm/cluster_start.sh ENV_FILE: the ctest fixture that starts the single-node
# test cluster (slurm/testcluster/start.sh) for the `slurm` tests and writes its
# `export` lines to ENV_FILE, which the tests source. Exit 77 (skipped) where Slurm
# cannot run (not root, Slurm or munge missing); the tests then skip too.
set -uo pipefail
env_file=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
rm -f "$env_file"
if [ -f "$env_file.dir" ]; then  # a cluster an interrupted run left behind
  bash "$repo/slurm/testcluster/stop.sh" "$(cat "$env_file.dir")" 2>/dev/null
  rm -f "$env_file.dir"
fi
out=$(bash "$repo/slurm/testcluster/start.sh")
code=$?
if [ "$code" -ne 0 ]; then
  [ "$code" -eq 77 ] && echo "SKIPPED: the test cluster cannot run here (reason above)"
  exit "$code"
fi
printf '%s\n' "$out" >"$env_file"
sed -n 's/^export SHRIKE_TESTCLUSTER_DIR=//p' "$env_file" >"$env_file.dir"
echo "test cluster started:"
cat "$env_file"
