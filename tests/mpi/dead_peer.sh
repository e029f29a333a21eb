#!/usr/bin/env bash
# tests/mpi/dead_peer.sh MPIEXEC DEAD_PEER_BINARY: under `mpirun -np 2`, a stuck rank
# ends the whole job within 60 s with an error naming the rank and the collective;
# nothing waits forever.
set -uo pipefail
mpiexec=$1
binary=$2
start=$(date +%s)
output=$(timeout 90 "$mpiexec" -np 2 --oversubscribe "$binary" 2>&1)
code=$?
elapsed=$(( $(date +%s) - start ))
[ "$code" -ne 0 ] || { echo "FAIL: the job exited 0 although a rank died"; exit 1; }
[ "$code" -ne 124 ] || { echo "FAIL: the job hung (killed by timeout after 90 s)"; exit 1; }
[ "$elapsed" -le 60 ] || { echo "FAIL: the job took ${elapsed}s to end"; exit 1; }
grep -q "rank 0/2 on .*: all-reduce of 1000 elements did not complete within 5 s" <<<"$output" ||
  { echo "FAIL: no message naming the rank and the collective: $output"; exit 1; }
echo "PASS: the job ended in ${elapsed}s with exit $code: $(grep -m1 'did not complete' <<<"$output")"
