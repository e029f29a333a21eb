#!/usr/bin/python3
# tests/mpi/compare_weights.py A.h5 B.h5 TOLERANCE: the largest relative L2 difference
# per tensor between two weights files' /model groups; exit 1 above TOLERANCE.
import sys

import h5py
import numpy as np

a, b, tolerance = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), float(sys.argv[3])
worst, worst_name = 0.0, ""
for name in a["model"]:
    x, y = a["model"][name][()].astype(np.float64), b["model"][name][()].astype(np.float64)
    error = np.linalg.norm(x - y) / max(np.linalg.norm(x), 1e-12)
    if error > worst:
        worst, worst_name = error, name
print(f"worst relative L2 difference {worst:.2e} ({worst_name})")
sys.exit(0 if worst <= tolerance else 1)
