#!/usr/bin/env bash
# scripts/test.sh: the README's second command, and what CI runs (.ci/run). Installs
# what is missing, builds, and runs the whole test suite with ctest. GPU tests are
# reported as skipped (with the reason) where no CUDA device is usable.
# Pick a group with CTEST_LABEL=unit|mpi|slurm|e2e|gpu.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh" "$root/build"
cd "$root/build"
label_args=()
[ -n "${CTEST_LABEL:-}" ] && label_args=(-L "$CTEST_LABEL")
ctest --output-on-failure -j "$(nproc)" "${label_args[@]}"
