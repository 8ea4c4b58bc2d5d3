#!/usr/bin/python3
"""The 2048x5461 check of engine/linalg (not stored: 89 MB). Writes OUT.f64 (the
matrix, float64 row-major) and OUT.json (numpy's singular values and its time), for
  RELORA_SVD_BIG=OUT go test -run Big -v ./engine/linalg
The matrix is U diag(s) V^T with s from 1 down to 1e-8 (logarithmic) plus a
float32-like floor: the shape of a 1B model's MLP update.
Run:  /usr/bin/python3 gen_big.py /tmp/svd_big
"""
import json
import sys

import numpy as np

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/svd_big"
rng = np.random.default_rng(2048)
m, n = 2048, 5461
u, _ = np.linalg.qr(rng.standard_normal((m, m)))
v, _ = np.linalg.qr(rng.standard_normal((n, m)))
s = np.logspace(0, -8, m)
a = (u * s) @ v.T
a.astype("<f8").tofile(out + ".f64")
sv = np.linalg.svd(a, compute_uv=False)
with open(out + ".json", "w") as f:
    json.dump({"rows": m, "cols": n, "sigma": [float(x) for x in sv], "numpy": np.__version__}, f)
