#!/usr/bin/env bash
# bench/gpu-check.sh: everything a session with a lent GPU machine runs, in one call
# (the `device` tool runs it in the repository root):
#   1. configure and build with the CUDA backend forced ON for the local GPU;
#   2. run the `gpu` test label verbosely (they must pass there, not skip);
#   3. run the GPU benchmarks and print the figures to record in bench/RESULTS.md.
# Output also goes to $OUT/gpu-check.log when $OUT is set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log=${OUT:-/tmp}/gpu-check.log
exec > >(tee "$log") 2>&1
echo "# gpu-check $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi not available"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '.')
bash "$root/scripts/install-deps.sh"
SHRIKE_CUDA=ON CUDA_ARCHS=${arch:-90} bash "$root/scripts/build.sh" "$root/build-gpu"
cd "$root/build-gpu"
ctest -L gpu --output-on-failure -V | grep -E "device:|mismatches|PASSED|FAILED|SKIPPED|tests passed|Test #"
# GPU benchmarks join here as the CUDA backend grows (issue 6).
