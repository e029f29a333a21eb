#!/usr/bin/env bash
# tests/integration/shard_h5dump.sh SHRIKE: a shard written by `shrike shard` is read
# back by HDF5's own h5dump: the layout, the attributes, and the class ids of the first
# image equal its label file.
set -euo pipefail
shrike=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$shrike" synth --out "$work/synth" --train 12 --val 4 --seed 3 >/dev/null
"$shrike" shard "$work/synth/data.yaml" --out "$work/shards" --imgsz 320 --shards 2 --quiet >/dev/null
shard="$work/shards/train/part-00000-of-00002.h5"
[ -f "$shard" ] || { echo "FAIL: $shard missing"; ls -R "$work/shards"; exit 1; }

header=$(h5dump -H "$shard")
for dataset in /images/data /images/offsets /images/shape /images/orig_shape /labels/boxes /labels/classes \
               /labels/offsets /meta/source_paths /meta/source_offsets; do
  name=${dataset##*/}
  grep -q "DATASET \"$name\"" <<<"$header" || { echo "FAIL: h5dump shows no $dataset"; exit 1; }
done
# (grep reads a here-string, not a pipe: an early grep -q exit would SIGPIPE the writer
# and fail the pipeline under pipefail)
grep -q '"shrike-shard"' <<<"$(h5dump -a /format "$shard")" || { echo "FAIL: format attribute"; exit 1; }
grep -q '320' <<<"$(h5dump -a /imgsz "$shard")" || { echo "FAIL: imgsz attribute"; exit 1; }

# The numbers h5dump prints for a subset of a dataset, space-separated.
values() {  # values DATASET START COUNT
  h5dump -d "$1" -s "$2" -c "$3" -y -w 0 "$shard" | sed -n '/DATA {/,/}/p' | grep -oE '[0-9]+' | tr '\n' ' '
}

# class ids of image 0 from the shard (labels/offsets[0..1]) vs its label file
offsets=($(values /labels/offsets 0 2))
count=$((offsets[1] - offsets[0]))
from_shard=""
[ "$count" -gt 0 ] && from_shard=$(values /labels/classes "${offsets[0]}" "$count" | sed 's/ $//')
from_file=$(awk 'NF {print $1}' "$work/synth/labels/train/000000.txt" | tr '\n' ' ' | sed 's/ $//')
if [ "$from_shard" != "$from_file" ]; then
  echo "FAIL: classes of image 0: shard '$from_shard' vs label file '$from_file'"
  exit 1
fi
# pixel bytes of image 0 = stored height * width * 3
shape=($(values /images/shape 0,0 1,3))
pixels=($(values /images/offsets 0 2))
bytes=$((pixels[1] - pixels[0]))
[ "$bytes" -eq $((shape[0] * shape[1] * shape[2])) ] || { echo "FAIL: image 0 has $bytes bytes, shape ${shape[*]}"; exit 1; }
[ "${shape[0]}" -eq 320 ] || [ "${shape[1]}" -eq 320 ] || { echo "FAIL: long side of image 0 is not 320: ${shape[*]}"; exit 1; }
echo "PASS: h5dump reads the shard; image 0: ${shape[0]}x${shape[1]}, classes [$from_shard]"
