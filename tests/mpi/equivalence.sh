#!/usr/bin/env bash
# tests/mpi/equivalence.sh MPIEXEC SHRIKE: data parallelism gives the single-process
# result. One epoch of yolov8n (global batch 8, sync_bn on, deterministic, same seed)
# under 1, 2 and 4 ranks (4 oversubscribed): the epoch's losses agree to 1e-4 and the
# final weights to 1e-3 relative L2 per tensor (measured about 6e-5: float summation
# order differs between world sizes).
set -uo pipefail
mpiexec=$1
shrike=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$(dirname "$0")/../integration/train_fixture.sh"
cd "$work"
make_training_data "$shrike" 32 4 8
common=(model=yolov8n.yaml data=shards imgsz=64 batch=8 epochs=1 workers=1 optimizer=SGD mosaic=0 val=False
        sync_bn=True "project=$work/runs")
"$shrike" train "${common[@]}" name=np1 >np1.log 2>&1 || fail "np 1 exited $?: $(tail -3 np1.log)"
for ranks in 2 4; do
  "$mpiexec" -np "$ranks" --oversubscribe "$shrike" train "${common[@]}" "name=np$ranks" >"np$ranks.log" 2>&1 ||
    fail "np $ranks exited $?: $(tail -3 "np$ranks.log")"
  losses_1=$(sed -n 2p runs/np1/results.csv | cut -d, -f3-5)
  losses_n=$(sed -n 2p "runs/np$ranks/results.csv" | cut -d, -f3-5)
  /usr/bin/python3 -c '
import sys
a = [float(v) for v in sys.argv[1].split(",")]; b = [float(v) for v in sys.argv[2].split(",")]
sys.exit(0 if all(abs(x - y) <= 1e-4 * max(abs(x), 1e-6) for x, y in zip(a, b)) else 1)' "$losses_1" "$losses_n" ||
    fail "np $ranks losses $losses_n differ from np 1's $losses_1"
  /usr/bin/python3 "$here/compare_weights.py" runs/np1/weights/last.h5 "runs/np$ranks/weights/last.h5" 1e-3 ||
    fail "np $ranks weights differ from np 1's"
done
finish "np 1, 2 and 4 train the same model"
