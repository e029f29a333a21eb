#!/usr/bin/env bash
# tests/slurm/cluster_stop.sh ENV_FILE: the ctest fixture that stops the test cluster
# started by cluster_start.sh (only its daemons and jobs; slurm/testcluster/stop.sh).
set -uo pipefail
env_file=$1
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -f "$env_file.dir" ]; then
  echo "no test cluster to stop"
  exit 0
fi
bash "$repo/slurm/testcluster/stop.sh" "$(cat "$env_file.dir")"
code=$?
rm -f "$env_file" "$env_file.dir"
exit "$code"
