#!/usr/bin/env bash
# bench/gpu-check.sh: everything a session with a lent GPU machine runs, in one call
# (`device` runs it in the repository root):
#   1. build kernels/ and the GPU tests with the CUDA backend forced ON for the local
#      GPU (SHRIKE_KERNELS_ONLY: the lent machines have the CUDA toolkit, cuDNN and
#      NCCL, as pip wheels where not under /usr/local/cuda, but none of the
#      pipeline's Debian libraries, and no network to install them);
#   2. run the `gpu` test label verbosely: there they must pass, not skip;
#   3. run the GPU benchmarks and print the figures to record in bench/RESULTS.md.
# The full log also goes to $OUT/gpu-check.log when $OUT is set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
log=${OUT:-/tmp}/gpu-check.log
exec > >(tee "$log") 2>&1
echo "# gpu-check $(date -u +%Y-%m-%dT%H:%MZ) at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader || echo "nvidia-smi not available"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '.')

# cuDNN and NCCL from the Python wheels when the toolkit folder lacks them.
wheel_root() {
  python3 -c "import importlib, os; m = importlib.import_module('$1'); print(os.path.dirname(list(m.__path__)[0] + '/'))" 2>/dev/null || true
}
[ -f /usr/local/cuda/include/cudnn_version.h ] || export CUDNN_ROOT=${CUDNN_ROOT:-$(wheel_root nvidia.cudnn)}
[ -f /usr/local/cuda/include/nccl.h ] || export NCCL_ROOT=${NCCL_ROOT:-$(wheel_root nvidia.nccl)}

build=$root/build-gpu
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSHRIKE_KERNELS_ONLY=ON -DSHRIKE_CUDA=ON \
      "-DCMAKE_CUDA_ARCHITECTURES=${arch:-90}" | grep -E "shrike:|Error" || true
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest -L gpu --output-on-failure -V | grep -E "device:|mismatches|PASSED|FAILED|SKIPPED|tests passed|Test +#"
# GPU benchmarks join here as the CUDA backend grows (issue 6).
