# tests/slurm/slurm_fixture.sh: sourced by the `slurm` tests: skips (77) when the test
# cluster fixture did not start, sources its environment (SLURM_CONF, SHRIKE_CONFIG_DIR),
# gives the test its own SHRIKE_HOME (job registry and ledger) and scratch folder, and
# helpers:
#   make_data                   a small synthetic dataset sharded at imgsz 64 -> ./shards
#   submit ARGS...              `shrike submit` with the tiny-training settings; sets $job
#   wait_for SECONDS CMD...     polls CMD every 0.2 s until it succeeds (1 on timeout)
#   job_state JOB               Slurm's state of JOB (squeue), empty when unknown
#   job_running JOB, job_ended JOB   its state tests, for wait_for
#   fail MESSAGE / finish NAME  count failures / report and exit
# Usage: source slurm_fixture.sh SHRIKE ENV_FILE
shrike=$(realpath "$1")
env_file=$2
if [ ! -f "$env_file" ]; then
  echo "SKIPPED: no test cluster (the slurm.cluster_start fixture did not start one: not root, or Slurm missing)"
  exit 77
fi
source "$env_file"
work=$(mktemp -d)
export SHRIKE_HOME=$work/home
cleanup_jobs() {  # jobs of this test that are still queued or running
  local ids
  ids=$(cat "$work/jobs" 2>/dev/null)
  if [ -n "$ids" ]; then
    scancel $ids 2>/dev/null
    for _ in $(seq 1 60); do
      [ -z "$(squeue -h -t running,completing -j "$(tr '\n' ',' <<<"$ids")" 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  rm -rf "$work"
}
trap cleanup_jobs EXIT
cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
finish() {
  if [ "$failures" -eq 0 ]; then echo "PASS: $*"; exit 0; fi
  echo "--- slurmctld log tail"; tail -n 20 "$SHRIKE_TESTCLUSTER_DIR/slurmctld.log"
  exit 1
}
make_data() {
  "$shrike" synth --out synth --train 24 --val 8 --seed 4 >/dev/null 2>&1 || { echo "synth failed"; exit 1; }
  "$shrike" shard synth/data.yaml --out shards --imgsz 64 --quiet >/dev/null || { echo "shard failed"; exit 1; }
}
tiny=(model=yolov8n.yaml data=shards imgsz=64 batch=8 workers=1 close_mosaic=1 optimizer=SGD)
submit() {
  out=$("$shrike" submit "${tiny[@]}" "$@" 2>&1)
  code=$?
  job=$(sed -n 's/^submitted job \([0-9]*\).*/\1/p' <<<"$out")
  [ -n "$job" ] && echo "$job" >>"$work/jobs"
  return $code
}
wait_for() {
  local seconds=$1
  shift
  local end=$((SECONDS + seconds))
  while [ "$SECONDS" -lt "$end" ]; do
    "$@" && return 0
    sleep 0.2
  done
  return 1
}
job_state() { squeue -h -j "$1" -t all -o %T 2>/dev/null | head -1; }
job_running() { [ "$(job_state "$1")" = RUNNING ]; }
job_ended() { case "$(job_state "$1")" in COMPLETED | FAILED | CANCELLED | TIMEOUT | "") return 0 ;; *) return 1 ;; esac; }
run_state() { sed -n 's/.*"state": "\([a-z]*\)".*/\1/p' "$1/status.json" 2>/dev/null; }
