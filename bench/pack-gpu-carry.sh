#!/usr/bin/env bash
# bench/pack-gpu-carry.sh: builds the full `shrike` binary with the CUDA backend HERE and
# packs it, with the GPU test executables and the shared libraries they need, into
# .gpu-carry/shrike-gpu-carry.tar.xz for a lent GPU machine, where bench/gpu-check.sh
# unpacks and runs it. Why: those machines have nvcc, cuDNN/cuBLAS/NCCL (as Python
# wheels) and python3 with torch, but none of the Debian -dev libraries the pipeline
# links (HDF5, oneDNN, MPI, yaml-cpp, ...) and no network, so the pipeline cannot be
# built there. Pass the folder to the device tool as a carried path: carry [".gpu-carry"]
# (it is git-ignored through .git/info/exclude; the tool carries 64 MiB in all).
#
# What goes in (a tree bin/, lib/, MANIFEST, gpu-tests.tsv, carry.env):
#   bin/  shrike, every executable of a ctest `gpu` test, test_system_stats; stripped.
#   lib/  every library `ldd` resolves for them EXCEPT what the GPU machine provides:
#         the CUDA driver and toolkit (libcuda, libcudart, libcudnn*, libcublas*, libnccl*,
#         libnvidia*, libnvrtc*, libnvJitLink*, libcufft/curand/cusparse/cusolver*) and
#         glibc (ld-linux, libc, libm, libpthread, libdl, librt, libresolv, libmvec ...).
#         libstdc++ and libgcc_s ARE carried: the binaries need the ones they were built
#         with; gpu-check.sh sets LD_LIBRARY_PATH for the carried programs only, never
#         for python3 (torch needs its own).
#   gpu-tests.tsv  name, carried executable, arguments of each `gpu` ctest whose command
#         is a carried executable (paths into the source tree written as @ROOT@/...).
#   MANIFEST  commit, uncommitted changes, build settings, nvcc and cuDNN versions, sizes.
#   carry.env  SOURCE_ROOT and BUILD_DIR as compiled into the programs (fixture paths,
#         bin/shrike for tests that run it); gpu-check.sh links them into place there.
# A library ldd cannot find that is not on the provided list fails the pack. The archive
# must stay under 60 MiB (the carry limit less the tree); it is checked.
#
#   bench/pack-gpu-carry.sh                       configure + build build-gpu-carry (Release,
#                                                 SHRIKE_CUDA=ON, sm_90), then pack
#   bench/pack-gpu-carry.sh --pack-only DIR       pack an existing build folder (no build)
#   options: --out DIR (default .gpu-carry), --arch 90, JOBS=N (default 1; builds are
#   serialised with other builds on this machine by flock /tmp/shrike-build.lock)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-gpu-carry
out_dir=$root/.gpu-carry
arch=90
pack_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --pack-only) pack_only=1; build=$(cd "${2:?--pack-only needs a build folder}" && pwd); shift 2 ;;
    --out) out_dir=${2:?--out needs a folder}; shift 2 ;;
    --arch) arch=${2:?--arch needs a compute capability like 90}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pack-gpu-carry.sh: unknown argument '$1' (see --help)" >&2; exit 1 ;;
  esac
done
jobs=${JOBS:-1}
locked() { if command -v flock >/dev/null; then flock /tmp/shrike-build.lock "$@"; else "$@"; fi; }
fail() { echo "pack-gpu-carry: $*" >&2; exit 1; }

# ---- build ---------------------------------------------------------------------------
if [ "$pack_only" = 0 ]; then
  mkdir -p "$build"
  # SHRIKE_CUDA=ON makes configuring fail when nvcc, cuDNN or NCCL are missing.
  locked cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSHRIKE_CUDA=ON \
        "-DCMAKE_CUDA_ARCHITECTURES=$arch" >"$build/configure.log" 2>&1 ||
    { tail -n 30 "$build/configure.log"; fail "configuring $build failed (log: $build/configure.log)"; }
  grep -E "shrike:" "$build/configure.log" || true
  gpu_targets=$(cmake --build "$build" --target help | sed -n 's/^\.\.\. \(test_gpu_[A-Za-z0-9_]*\).*/\1/p')
  # shellcheck disable=SC2086  # word splitting of the target list is intended
  locked cmake --build "$build" -j "$jobs" --target shrike test_system_stats $gpu_targets
fi
[ -x "$build/bin/shrike" ] || fail "no $build/bin/shrike: build it first"

# ---- stage ---------------------------------------------------------------------------
stage=$build/carry-stage
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/lib"
ctest --test-dir "$build" -L gpu --show-only=json-v1 >"$stage/ctest-gpu.json"
python3 - "$build" "$root" "$stage" <<'EOF'
# The executables to carry, and gpu-tests.tsv: each `gpu` ctest whose command is a file
# built in the build folder (a script through bash would need the whole tree).
import json, os, sys
build, root, stage = sys.argv[1:]
tests = json.load(open(os.path.join(stage, "ctest-gpu.json")))["tests"]
carried = {os.path.join(build, "bin", "shrike")}
for extra in ("tests/test_system_stats",):
    if os.path.exists(os.path.join(build, extra)):
        carried.add(os.path.join(build, extra))
rows, skipped = [], []
for test in tests:
    command = test.get("command") or []
    if not command or not command[0].startswith(build + "/") or not os.access(command[0], os.X_OK):
        skipped.append(test["name"])
        continue
    carried.add(command[0])
    args = []
    for arg in command[1:]:
        if arg.startswith(build + "/") and os.access(arg, os.X_OK) and not os.path.isdir(arg):
            carried.add(arg)
            arg = "@BIN@/" + os.path.basename(arg)
        elif arg.startswith(root + "/"):
            arg = "@ROOT@/" + arg[len(root) + 1:]
        args.append(arg)
    rows.append("\t".join([test["name"], os.path.basename(command[0])] + args))
names = {}
for path in carried:
    name = os.path.basename(path)
    if name in names and names[name] != path:
        sys.exit(f"pack-gpu-carry: two executables named {name}: {names[name]} and {path}")
    names[name] = path
open(os.path.join(stage, "gpu-tests.tsv"), "w").write("".join(r + "\n" for r in rows))
open(os.path.join(stage, "executables.txt"), "w").write("".join(p + "\n" for p in sorted(carried)))
if skipped:
    print("gpu tests not carried (no built executable):", " ".join(skipped))
EOF
rm "$stage/ctest-gpu.json"
mapfile -t executables <"$stage/executables.txt"
rm "$stage/executables.txt"

# Provided on the GPU machine (driver, toolkit and wheels, glibc): never carried.
provided='^(linux-vdso|ld-linux|libc\.so|libm\.so|libmvec|libpthread|libdl\.so|librt\.so|libresolv|libutil\.so|libanl|libnss_|libBrokenLocale|libcuda\.so|libcudart|libcudnn|libcublas|libnccl|libnvidia|libnvrtc|libnvJitLink|libcufft|libcurand|libcusparse|libcusolver|libnvToolsExt)'
declare -A libraries=()
missing=()
for exe in "${executables[@]}"; do
  cp "$exe" "$stage/bin/"
  strip --strip-unneeded "$stage/bin/$(basename "$exe")"
  while read -r name arrow path _; do
    [ -n "$name" ] || continue
    [[ $name =~ $provided ]] && continue
    if [ "$arrow" != "=>" ]; then continue; fi              # the loader itself, vdso
    if [ "$path" = "not" ]; then missing+=("$name (for $(basename "$exe"))"); continue; fi
    libraries[$name]=$path
  done < <(ldd "$exe")
done
[ ${#missing[@]} -eq 0 ] || fail "ldd cannot find: ${missing[*]}"
for name in "${!libraries[@]}"; do
  cp -L "${libraries[$name]}" "$stage/lib/$name"
  chmod u+w "$stage/lib/$name"
  strip --strip-unneeded "$stage/lib/$name" 2>/dev/null || true
done

# ---- manifest, archive, size check ------------------------------------------------------
{
  echo "packed $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname) from $root"
  echo "commit $(git -C "$root" rev-parse HEAD 2>/dev/null || echo '?') with $(git -C "$root" status --porcelain 2>/dev/null | wc -l) uncommitted paths"
  echo "build $build: $(grep -E '^(CMAKE_BUILD_TYPE|SHRIKE_CUDA|CMAKE_CUDA_ARCHITECTURES)[:=]' "$build/CMakeCache.txt" | tr '\n' ' ')"
  echo "nvcc: $( (nvcc --version 2>/dev/null || /usr/local/cuda/bin/nvcc --version 2>/dev/null) | tail -n 1)"
  cudnn_h=$(ls /usr/include/cudnn_version.h /usr/include/x86_64-linux-gnu/cudnn_version*.h /usr/local/cuda/include/cudnn_version.h 2>/dev/null | head -n 1 || true)
  [ -n "$cudnn_h" ] && echo "cuDNN headers: $(awk '/define CUDNN_(MAJOR|MINOR|PATCHLEVEL) /{printf "%s ", $3}' "$cudnn_h")"
  echo "needs from the machine: $(for exe in "${executables[@]}"; do ldd "$exe"; done | awk '{print $1}' | grep -E 'libcud|libcublas|libnccl|libnv' | sort -u | tr '\n' ' ')"
  echo "files:"
  (cd "$stage" && find bin lib -type f -printf '%10s %p\n' | sort -k2)
} >"$stage/MANIFEST"
# Paths compiled into the programs (the source tree for fixtures and configs/, the build
# folder's bin/shrike that tests run): gpu-check.sh makes them exist on the GPU machine.
printf 'SOURCE_ROOT=%s\nBUILD_DIR=%s\n' "$root" "$build" >"$stage/carry.env"

mkdir -p "$out_dir"
archive=$out_dir/shrike-gpu-carry.tar.xz
rm -f "$out_dir"/*.tar.xz
XZ_OPT=${XZ_OPT:--9 -T1} tar -C "$stage" -cJf "$archive" .
unpacked=$(du -sb "$stage" | cut -f1)
packed=$(stat -c %s "$archive")
echo "carried: ${#executables[@]} executables, ${#libraries[@]} libraries; $((unpacked >> 20)) MiB unpacked, $((packed >> 20)) MiB packed ($packed bytes) -> $archive"
[ "$packed" -lt $((60 << 20)) ] || fail "$archive is $((packed >> 20)) MiB: over the 60 MiB carry budget"

# Keep the folder out of git without touching .gitignore (others own it).
exclude=$(git -C "$root" rev-parse --git-path info/exclude 2>/dev/null || true)
if [ -n "$exclude" ]; then
  case $exclude in /*) ;; *) exclude=$root/$exclude ;; esac
  mkdir -p "$(dirname "$exclude")"
  grep -qx '/.gpu-carry/' "$exclude" 2>/dev/null || echo '/.gpu-carry/' >>"$exclude"
fi
echo "device tool: pass carry [\".gpu-carry\"] and run bench/gpu-check.sh"
