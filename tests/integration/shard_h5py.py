#!/usr/bin/python3
# tests/integration/shard_h5py.py SHARD_DIR IMAGES_DIR: the README's h5py snippet works
# on a real shard: image 3 read with h5py has the stored shape, long side = imgsz, and
# its classes equal the label file of its source image. Run by ctest (e2e.shard_h5py)
# with Debian's /usr/bin/python3 and python3-h5py.
import json
import sys
from pathlib import Path

import h5py
import numpy as np

shard_dir = Path(sys.argv[1])
manifest = json.loads((shard_dir / "manifest.json").read_text())
shard = shard_dir / manifest["splits"]["train"]["shards"][0]["file"]

# --- the README snippet, verbatim but for the file name ---
with h5py.File(shard, "r") as f:
    o, (h, w, c) = f["images/offsets"][3:5], f["images/shape"][3]
    image = f["images/data"][o[0]:o[1]].reshape(h, w, c)        # RGB uint8 (raw encoding)
    b = f["labels/offsets"][3:5]
    classes, boxes = f["labels/classes"][b[0]:b[1]], f["labels/boxes"][b[0]:b[1]]  # cx cy w h in 0..1
# ---
    so = f["meta/source_offsets"][3:5]
    source = bytes(f["meta/source_paths"][so[0]:so[1]]).decode()
    imgsz = int(f.attrs["imgsz"])

assert image.dtype == np.uint8 and image.shape == (h, w, 3), image.shape
assert max(h, w) == imgsz, (h, w, imgsz)
assert image.std() > 5, "image 3 looks blank"
label = Path(source.replace("/images/", "/labels/")).with_suffix(".txt")
expected = [int(line.split()[0]) for line in label.read_text().splitlines() if line.strip()]
assert sorted(classes.tolist()) == sorted(expected), (classes.tolist(), expected)
assert ((boxes >= 0) & (boxes <= 1)).all()
print(f"PASS: h5py read image 3 ({h}x{w}) of {shard.name} with classes {classes.tolist()}")
