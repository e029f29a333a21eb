#!/usr/bin/env bash
# bench/gpu-check.sh: everything a session with a lent GPU machine runs, in one call
# (`device` runs it in the repository root). Two ways, by what came with the tree:
#
# A. .gpu-carry/*.tar.xz present (bench/pack-gpu-carry.sh built the full `shrike` here
#    and packed it with its libraries; pass carry [".gpu-carry"] to the device tool):
#    1. unpack to /tmp/shrike-carry; the carried programs run with LD_LIBRARY_PATH =
#       the carried lib/ + the cuDNN/cuBLAS/NCCL/CUDA wheel lib folders of python3's
#       site-packages (nvidia/*/lib) + /usr/local/cuda/lib64. Only those programs: python3
#       and torch keep their own libraries. The source and build paths compiled into the
#       programs (carry.env) are linked to this tree and the carried bin/ if missing;
#    2. run every carried `gpu` test (gpu-tests.tsv) and the NVML stats test against the
#       real device (test_system_stats, SHRIKE_TEST_GPU_UUID from nvidia-smi);
#    3. measure the device's ceilings (bench/device_peaks.py);
#    4. time the training step in shrike (`shrike debug bench-step`) and in PyTorch
#       (bench/torch_train_step.py) for yolov8n and yolov8s at 640, batch 64 and 16, bf16
#       and fp32, and print them side by side (bench/gpu_bench_table.py).
# B. no carry: build kernels/ and the GPU tests here with the CUDA backend forced ON for
#    the local GPU (SHRIKE_KERNELS_ONLY: the pipeline's Debian libraries are missing
#    here), run the `gpu` label, then steps 3-4 with the PyTorch column only.
#
# Everything goes to $OUT/gpu-check.log (/tmp without $OUT); the JSON lines to
# $OUT/bench.jsonl and $OUT/peaks.json. Sized to finish in under 9 minutes on an H100:
# STEPS (timed, default 20) and WARMUP (default 5) per case, each command under a
# timeout, and cases still waiting when BENCH_BUDGET_S (default 400 s after the start)
# has passed are skipped with a note. CASES="yolov8n:64:bf16 ..." picks cases.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp}
mkdir -p "$out"
log=$out/gpu-check.log
exec > >(tee "$log") 2>&1
started=$SECONDS
steps=${STEPS:-20}
warmup=${WARMUP:-5}
budget=${BENCH_BUDGET_S:-400}
cases=${CASES:-"yolov8n:64:bf16 yolov8n:64:fp32 yolov8n:16:bf16 yolov8n:16:fp32 yolov8s:64:bf16 yolov8s:64:fp32 yolov8s:16:bf16 yolov8s:16:fp32"}
results=$out/bench.jsonl
peaks=$out/peaks.json
: >"$results"
echo "# gpu-check $(date -u +%Y-%m-%dT%H:%MZ) at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader || echo "nvidia-smi not available"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '.')
uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' ')
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())" ||
  echo "python3 has no torch"

# The lib folders of the NVIDIA wheels (nvidia/cudnn/lib, nvidia/cu13/lib, ...), colon-joined.
wheel_lib_dirs() {
  python3 - <<'EOF' 2>/dev/null || true
import glob, os, site
dirs = []
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    for d in sorted(glob.glob(os.path.join(sp, "nvidia", "*", "lib")) + glob.glob(os.path.join(sp, "nvidia", "lib"))):
        if glob.glob(os.path.join(d, "*.so*")) and d not in dirs:
            dirs.append(d)
print(":".join(dirs))
EOF
}

# One JSON line saying a case failed or was skipped.
case_error() {  # framework model batch precision message
  python3 -c 'import json, sys; f, m, b, p, e = sys.argv[1:]; print(json.dumps(dict(framework=f, model=m, batch=int(b), precision=p, error=e)))' "$@"
}

# Appends one JSON line for a case to $results: the command's last JSON line, or an error.
record_case() {  # framework model batch precision command...
  local framework=$1 model=$2 batch=$3 precision=$4
  shift 4
  if [ $((SECONDS - started)) -ge "$budget" ]; then
    case_error "$framework" "$model" "$batch" "$precision" "skipped: past the ${budget} s budget" >>"$results"
    return
  fi
  echo "## $framework $model batch $batch $precision: $*"
  local output rc
  output=$(timeout 120 "$@" 2>&1)
  rc=$?
  echo "$output" | tail -n 5
  local line
  line=$(echo "$output" | grep '^{' | tail -n 1)
  if [ $rc -eq 0 ] && [ -n "$line" ]; then
    echo "$line" >>"$results"
  else
    case_error "$framework" "$model" "$batch" "$precision" \
      "exit $rc: $(echo "$output" | grep -v '^{' | tail -n 1 | cut -c1-200)" >>"$results"
  fi
}

torch_case() {  # model batch precision
  record_case torch "$1" "$2" "$3" python3 "$root/bench/torch_train_step.py" --model "$1" --imgsz 640 \
    --batch "$2" --precision "$3" --steps "$steps" --warmup "$warmup"
}

measure_peaks() {
  echo "## device peaks"
  timeout 60 python3 "$root/bench/device_peaks.py" | tee "$peaks" || echo "device_peaks.py failed"
}

print_table() {
  echo
  echo "# step benchmarks ($steps timed steps after $warmup warm-up, imgsz 640; ratio = shrike / torch)"
  python3 "$root/bench/gpu_bench_table.py" "$results" --peaks "$peaks"
  echo
  python3 "$root/bench/gpu_bench_table.py" "$results" --peaks "$peaks" --markdown >"$out/bench-table.md" || true
  echo "# done in $((SECONDS - started)) s; log $log, JSON $results, Markdown table $out/bench-table.md"
}

carry=$(ls "$root"/.gpu-carry/*.tar.xz 2>/dev/null | head -n 1)

if [ -n "$carry" ]; then
  # ---- A. the carried full build ------------------------------------------------------
  unpacked=/tmp/shrike-carry
  rm -rf "$unpacked"
  mkdir -p "$unpacked"
  tar -xJf "$carry" -C "$unpacked" || { echo "cannot unpack $carry"; exit 1; }
  head -n 5 "$unpacked/MANIFEST"
  carried_path=$unpacked/lib
  wheel_libs=$(wheel_lib_dirs)
  [ -n "$wheel_libs" ] && carried_path="$carried_path:$wheel_libs"  # never an empty entry: that means "."
  [ -d /usr/local/cuda/lib64 ] && carried_path="$carried_path:/usr/local/cuda/lib64"
  echo "carried LD_LIBRARY_PATH: $carried_path"
  # A command prefix (not a function, so that `timeout` can run it).
  carried=(env "LD_LIBRARY_PATH=$carried_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "SHRIKE_CONFIG_DIR=$root/configs")
  unresolved=$("${carried[@]}" ldd "$unpacked/bin/shrike" | grep "not found")
  [ -z "$unresolved" ] || echo "WARNING: the carried shrike lacks: $unresolved"
  # The programs find fixtures and bin/shrike by the paths compiled in on the build
  # machine: make those paths lead here (this machine is lent, and keeps nothing).
  source_root=$(sed -n 's/^SOURCE_ROOT=//p' "$unpacked/carry.env" 2>/dev/null)
  build_dir=$(sed -n 's/^BUILD_DIR=//p' "$unpacked/carry.env" 2>/dev/null)
  if [ -n "$source_root" ] && [ ! -e "$source_root" ]; then
    mkdir -p "$(dirname "$source_root")" && ln -s "$root" "$source_root" && echo "linked $source_root -> $root"
  fi
  if [ -n "$build_dir" ] && [ ! -e "$build_dir/bin" ]; then
    mkdir -p "$build_dir" && ln -s "$unpacked/bin" "$build_dir/bin" && echo "linked $build_dir/bin -> $unpacked/bin"
  fi
  mkdir -p "$unpacked/work"  # the tests' working directory

  echo "# gpu tests (carried)"
  pass=0 fail=0 skip=0
  while IFS=$'\t' read -r name exe args; do
    [ -n "$name" ] || continue
    args=${args//@ROOT@/$root}
    args=${args//@BIN@/$unpacked/bin}
    # shellcheck disable=SC2086  # the arguments were written space-free by pack-gpu-carry.sh
    test_output=$(cd "$unpacked/work" && timeout 120 "${carried[@]}" "$unpacked/bin/$exe" $args 2>&1)
    rc=$?
    echo "$test_output" | grep -E "device:|mismatch|PASSED|FAILED|SKIPPED|error" | head -n 20
    case $rc in
      0) pass=$((pass + 1)); echo "PASS $name" ;;
      77) skip=$((skip + 1)); echo "SKIP $name" ;;
      *) fail=$((fail + 1)); echo "FAIL $name (exit $rc)"; echo "$test_output" | tail -n 30 ;;
    esac
  done <"$unpacked/gpu-tests.tsv"
  if [ -x "$unpacked/bin/test_system_stats" ]; then
    if (cd "$unpacked/work" && SHRIKE_TEST_GPU_UUID=${uuid:-} timeout 60 "${carried[@]}" "$unpacked/bin/test_system_stats" \
          --gtest_filter='RealNvml.*:GpuStats.*:GpuUuid.*:HostStats.*'); then
      pass=$((pass + 1)); echo "PASS system stats (NVML on $uuid)"
    else
      fail=$((fail + 1)); echo "FAIL system stats (NVML on $uuid)"
    fi
  fi
  echo "# gpu tests: $pass passed, $fail failed, $skip skipped"

  measure_peaks
  echo "# step benchmarks"
  for case in $cases; do
    IFS=: read -r model batch precision <<<"$case"
    amp=()
    [ "$precision" = bf16 ] && amp=(--amp)
    record_case shrike "$model.yaml" "$batch" "$precision" "${carried[@]}" "$unpacked/bin/shrike" debug bench-step \
      --model "$model.yaml" --imgsz 640 --batch "$batch" "${amp[@]}" --device cuda:0 --steps "$steps" --warmup "$warmup"
    torch_case "$model" "$batch" "$precision"
  done
  print_table
  [ "$fail" -eq 0 ]
  exit $?
fi

# ---- B. no carry: kernels-only build here, the gpu tests, PyTorch's figures ---------------
echo "no .gpu-carry/*.tar.xz: kernels-only build (run bench/pack-gpu-carry.sh on the build machine for shrike's figures)"
# cuDNN and NCCL from the Python wheels when the toolkit folder lacks them.
wheel_root() {
  python3 -c "import importlib, os; m = importlib.import_module('$1'); print(os.path.dirname(list(m.__path__)[0] + '/'))" 2>/dev/null || true
}
[ -f /usr/local/cuda/include/cudnn_version.h ] || export CUDNN_ROOT=${CUDNN_ROOT:-$(wheel_root nvidia.cudnn)}
[ -f /usr/local/cuda/include/nccl.h ] || export NCCL_ROOT=${NCCL_ROOT:-$(wheel_root nvidia.nccl)}

build=$root/build-gpu
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSHRIKE_KERNELS_ONLY=ON -DSHRIKE_CUDA=ON \
      "-DCMAKE_CUDA_ARCHITECTURES=${arch:-90}" | grep -E "shrike:|Error"
cmake --build "$build" -j "$(nproc)" || { echo "FAILED: the kernels-only build"; exit 1; }
(cd "$build" && ctest -L gpu --output-on-failure -V | grep -E "device:|mismatches|PASSED|FAILED|SKIPPED|tests passed|Test +#")
tests_ok=$?
measure_peaks
echo "# step benchmarks (PyTorch only)"
for case in $cases; do
  IFS=: read -r model batch precision <<<"$case"
  torch_case "$model" "$batch" "$precision"
done
print_table
exit "$tests_ok"
