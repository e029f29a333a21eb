#!/usr/bin/env bash
# tests/integration/shard_cache_lock.sh SHRIKE: two processes asking for the same shard
# cache at once (as two ranks or two jobs would) build it once: both succeed, both name
# the same folder, exactly one built it, and a third call reuses it.
set -euo pipefail
shrike=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$shrike" synth --out "$work/synth" --train 120 --val 8 --seed 2 >/dev/null

"$shrike" shard "$work/synth/data.yaml" --cache-dir "$work/cache" --imgsz 320 --quiet >"$work/a.log" 2>&1 &
a=$!
"$shrike" shard "$work/synth/data.yaml" --cache-dir "$work/cache" --imgsz 320 --quiet >"$work/b.log" 2>&1 &
b=$!
wait "$a" || { echo "FAIL: first process: $(cat "$work/a.log")"; exit 1; }
wait "$b" || { echo "FAIL: second process: $(cat "$work/b.log")"; exit 1; }

dir_a=$(grep '^shards: ' "$work/a.log" | cut -d' ' -f2-)
dir_b=$(grep '^shards: ' "$work/b.log" | cut -d' ' -f2-)
[ -n "$dir_a" ] && [ "$dir_a" = "$dir_b" ] || { echo "FAIL: folders differ: '$dir_a' '$dir_b'"; exit 1; }
built=$(cat "$work/a.log" "$work/b.log" | grep -c '^sharded into' || true)
reused=$(cat "$work/a.log" "$work/b.log" | grep -c '^reusing the shard cache' || true)
[ "$built" -eq 1 ] && [ "$reused" -eq 1 ] || {
  echo "FAIL: expected one build and one reuse, got $built and $reused"; cat "$work/a.log" "$work/b.log"; exit 1; }
[ "$(ls -d "$work"/cache/*/ | wc -l)" -eq 1 ] || { echo "FAIL: more than one cache folder"; ls -la "$work/cache"; exit 1; }

grep -q '^reusing' <<<"$("$shrike" shard "$work/synth/data.yaml" --cache-dir "$work/cache" --imgsz 320 --quiet)" ||
  { echo "FAIL: third call did not reuse"; exit 1; }
echo "PASS: one build, one wait-and-reuse, same folder $dir_a"
