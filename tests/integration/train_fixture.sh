# tests/integration/train_fixture.sh: sourced by the training e2e scripts (here and in
# tests/mpi): a scratch folder removed on exit, the failure counter, and a small
# synthetic dataset sharded at imgsz 64.
#   make_training_data SHRIKE TRAIN VAL SEED   (in the current folder: synth/, shards/)
#   fail MESSAGE                               (counts; `finish NAME` reports and exits)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
finish() { [ "$failures" -eq 0 ] && echo "PASS: $*" || exit 1; }
make_training_data() {
  "$1" synth --out synth --train "$2" --val "$3" --seed "$4" >/dev/null 2>&1
  "$1" shard synth/data.yaml --out shards --imgsz 64 --quiet >/dev/null
}
