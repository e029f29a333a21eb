#!/bin/bash
# tests/gpu/emulator/build.sh FAMILY... : builds $EMU_OUT/emu_<family> (default
# EMU_OUT=/tmp/shrike-emu) from tests/gpu/test_gpu_<family>.cpp and the real
# kernels/*.cu, rewritten by rewrite.py for the CPU emulator (README.md). Then run
# $EMU_OUT/emu_<family>. EMU_ULP_NOISE=1 builds with the noisy libm (use another EMU_OUT).
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${SHRIKE_ROOT:-$(cd "$HERE/../../.." && pwd)}
OUT=${EMU_OUT:-/tmp/shrike-emu}
CXX="g++ -std=c++20 -O2 -g -ffp-contract=off -I$ROOT -I/usr/local/cuda/include -Wno-attributes -Wno-unused-result"
EMU="-include $HERE/emu_runtime.h -I$HERE/include -DSHRIKE_WITH_CUDA"
mkdir -p "$OUT/kernels"
# The CPU references, compiled once into a static library.
CPU="activation_cpu assign_tal augment_cpu batchnorm_cpu detect_decode_cpu detect_loss elementwise_cpu nms_cpu
     optimizer_update pool_cpu resize_cpu upsample_cpu"
for f in $CPU; do
  [ "$OUT/$f.o" -nt "$ROOT/kernels/$f.cpp" ] || $CXX -c "$ROOT/kernels/$f.cpp" -o "$OUT/$f.o"
done
$CXX -c "$HERE/emu_device.cpp" -o "$OUT/emu_device.o"
rm -f "$OUT/libcpu.a"
ar rcs "$OUT/libcpu.a" $(for f in $CPU emu_device; do echo "$OUT/$f.o"; done)
# The box geometry header gets the noisy libm too (found first: quoted include from $OUT).
if [ -n "$EMU_ULP_NOISE" ]; then python3 "$HERE/rewrite.py" "$ROOT/kernels/box_iou.h" "$OUT/kernels/box_iou.h"
else rm -f "$OUT/kernels/box_iou.h"; fi
declare -A SOURCES=([optimizer]=optimizer.cu [detect_decode]=detect_decode.cu [resize]=resize.cu [nms]=nms.cu
  [detect_loss]="detect_loss.cu detect_loss_cuda.cpp" [augment]=augment.cu [elementwise]=elementwise.cu
  [batchnorm]=batchnorm.cu [pool]=pool.cu)
for family in "$@"; do
  [ -n "${SOURCES[$family]}" ] || { echo "unknown family $family (known: ${!SOURCES[*]})" >&2; exit 2; }
  objects=""
  for source in ${SOURCES[$family]}; do
    input="$ROOT/kernels/$source"
    if [[ $source == *.cu ]]; then
      python3 "$HERE/rewrite.py" "$input" "$OUT/${source%.cu}.emu.cpp"
      input="$OUT/${source%.cu}.emu.cpp"
    fi
    $CXX $EMU -c "$input" -o "$OUT/${source%.*}.emu.o"
    objects="$objects $OUT/${source%.*}.emu.o"
  done
  $CXX $EMU -c "$ROOT/tests/gpu/test_gpu_$family.cpp" -o "$OUT/test_$family.o"
  $CXX "$OUT/test_$family.o" $objects "$OUT/libcpu.a" -o "$OUT/emu_$family"
  echo "built $OUT/emu_$family"
done
