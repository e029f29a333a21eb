#!/usr/bin/env bash
# scripts/build.sh [BUILD_DIR]: configures and builds shrike (Release). The CUDA
# backend is built when nvcc is found (SHRIKE_CUDA=AUTO); set SHRIKE_CUDA=ON|OFF and
# CUDA_ARCHS (e.g. "80") in the environment to choose. Uses every core.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
args=(-DCMAKE_BUILD_TYPE=Release "-DSHRIKE_CUDA=${SHRIKE_CUDA:-AUTO}")
[ -n "${CUDA_ARCHS:-}" ] && args+=("-DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHS}")
cmake -S "$root" -B "$build" "${args[@]}" >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
grep -E "shrike: CUDA backend" "$build.configure.log" || true
cmake --build "$build" -j "$(nproc)"
