#!/usr/bin/env bash
# tests/integration/cli.sh SHRIKE: the command line contract: help and version, exit
# codes (0 ok, 1 user error with a message, 130 interrupted), and that an interrupted
# shard leaves nothing half-written.
set -uo pipefail
shrike=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/expect.sh"  # fail, expect

expect 0 "usage: shrike <command>" -- --help
expect 1 "usage: shrike <command>" --
expect 0 "^shrike [0-9]+\.[0-9]+\.[0-9]+ \(git" -- --version
expect 0 "usage: shrike shard DATA.yaml" -- shard --help
expect 0 "usage: shrike synth" -- synth --help
expect 0 "usage: shrike shard" -- help shard
expect 1 "error: unknown command 'trian'" -- trian
expect 1 "error: shrike shard: unrecognised option '--bogus'.*--help" -- shard x.yaml --out y --bogus
expect 1 "error: .*missing.yaml does not exist" -- shard "$work/missing.yaml" --out "$work/o"
expect 1 "exactly one of --out DIR" -- shard "$work/missing.yaml"
expect 1 "--imgsz 100 is not usable.*e.g. 128" -- shard "$work/missing.yaml" --out "$work/o" --imgsz 100
expect 1 "unknown encoding 'png'" -- shard "$work/missing.yaml" --out "$work/o" --encoding png

# A broken data.yaml: the message names the file and line.
printf 'path: .\ntrain: images/nowhere\nnames: [a]\n' > "$work/bad.yaml"
expect 1 "bad.yaml line 2: 'train' points to images/nowhere, which does not exist" -- shard "$work/bad.yaml" --out "$work/o"

# Ctrl-C in the middle of sharding: exit 130, no output folder, no temporary left.
"$shrike" synth --out "$work/big" --train 300 --val 4 --seed 1 >/dev/null
"$shrike" shard "$work/big/data.yaml" --out "$work/shards" --imgsz 640 --quiet >"$work/int.log" 2>&1 &
pid=$!
for _ in $(seq 1 500); do  # interrupt as soon as the build is under way
  compgen -G "$work/shards.tmp-*/train/*" >/dev/null && break
  sleep 0.01
done
kill -INT "$pid"
wait "$pid"; status=$?
if [ "$status" -eq 0 ]; then
  echo "note: shard finished before the interrupt; interrupt check not exercised"; fail "shard too fast to interrupt"
else
  [ "$status" -eq 130 ] || fail "interrupted shard exited $status, expected 130: $(cat "$work/int.log")"
  grep -q "interrupted" "$work/int.log" || fail "no 'interrupted' message: $(cat "$work/int.log")"
fi
[ ! -e "$work/shards" ] || fail "interrupted shard left $work/shards"
ls -d "$work"/shards.tmp-* 2>/dev/null && fail "interrupted shard left a temporary folder"

[ "$failures" -eq 0 ] && echo "PASS: cli" || exit 1
