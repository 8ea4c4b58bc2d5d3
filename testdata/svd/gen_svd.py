#!/usr/bin/python3
"""Golden singular values for engine/linalg (relora-cpu analyze).

Writes, next to this script:
  matrices.safetensors  -- three synthetic float64 matrices with hard spectra
                           (graded over 12 decades, tall enough for the QR path,
                           numerically rank 10 with a 1e-13 floor).
  svd_golden.json       -- for those and for eight float32 matrices of
                           ../golden/llama_tiny.safetensors (weights, the update
                           of PyTorch's three AdamW steps after3 - before, and a
                           gradient, of rank <= 32): numpy's singular values
                           (LAPACK gesdd, float64), checked against
                           torch.linalg.svdvals in float64, and what the Gram
                           route (sqrt of eigvalsh(A^T A)) would have given.

Plain numpy and PyTorch; the safetensors files are read and written by hand.
Run with Debian's python:  /usr/bin/python3 gen_svd.py
"""
import json
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "golden", "llama_tiny.safetensors")


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        dt = {"F32": np.float32, "F64": np.float64, "I32": np.int32}[e["dtype"]]
        out[name] = np.frombuffer(raw[base + a:base + b], dtype=dt).reshape(e["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors:
        b = np.ascontiguousarray(t, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def with_spectrum(rng, rows, cols, s):
    u, _ = np.linalg.qr(rng.standard_normal((rows, rows)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
    d = np.zeros((rows, cols))
    k = min(rows, cols)
    d[:k, :k] = np.diag(s)
    return u @ d @ v.T


def main():
    rng = np.random.default_rng(15)
    synthetic = [
        # name, matrix, what it tests
        ("graded_tall", with_spectrum(rng, 150, 40, np.logspace(0, -12, 40)),
         "12 decades, tall: the blocked QR path (150 >= 6/5*40, a ragged last panel)"),
        ("graded_wide", with_spectrum(rng, 45, 130, np.logspace(0, -9, 45) * 3.5),
         "9 decades, wide (read as its transpose), QR path"),
        ("rank10", with_spectrum(rng, 70, 64, np.concatenate([np.linspace(5, 1, 10), np.full(54, 1e-13)])),
         "ten values, then a floor at 1e-13: no QR (70 < 6/5*64)"),
    ]
    write_safetensors(os.path.join(HERE, "matrices.safetensors"), [(n, m) for n, m, _ in synthetic])

    st = read_safetensors(GOLDEN)
    p = "model.layers.%d.%s.weight"
    pairs = [
        ("dW q_proj 0", lambda: st["after3." + p % (0, "self_attn.q_proj")].astype(np.float64) - st[p % (0, "self_attn.q_proj")]),
        ("dW v_proj 1", lambda: st["after3." + p % (1, "self_attn.v_proj")].astype(np.float64) - st[p % (1, "self_attn.v_proj")]),
        ("dW gate_proj 1", lambda: st["after3." + p % (1, "mlp.gate_proj")].astype(np.float64) - st[p % (1, "mlp.gate_proj")]),
        ("dW down_proj 0", lambda: st["after3." + p % (0, "mlp.down_proj")].astype(np.float64) - st[p % (0, "mlp.down_proj")]),
        ("W up_proj 1", lambda: st[p % (1, "mlp.up_proj")].astype(np.float64)),
        ("W o_proj 0", lambda: st[p % (0, "self_attn.o_proj")].astype(np.float64)),
        ("grad q_proj 0", lambda: st["grad." + p % (0, "self_attn.q_proj")].astype(np.float64)),
        ("grad down_proj 1", lambda: st["grad." + p % (1, "mlp.down_proj")].astype(np.float64)),
    ]
    cases = []

    def add(name, source, what, a):
        s_np = np.linalg.svd(a, compute_uv=False)
        s_t = torch.linalg.svdvals(torch.from_numpy(np.ascontiguousarray(a))).numpy()
        # the two independent LAPACK paths agree to a few ulps of sigma_1
        assert np.max(np.abs(s_np - s_t)) <= 1e-13 * s_np[0], name
        small = a.T @ a if a.shape[0] >= a.shape[1] else a @ a.T
        gram = np.sqrt(np.clip(np.linalg.eigvalsh(small)[::-1], 0, None))
        rel = np.abs(gram - s_np) / s_np
        ok = s_np >= 1e-10 * s_np[0]
        cases.append({"name": name, "source": source, "what": what, "rows": a.shape[0], "cols": a.shape[1],
                      "sigma": [float(v) for v in s_np],
                      "torch_max_abs_diff": float(np.max(np.abs(s_np - s_t))),
                      "gram_route_max_rel_error": float(np.max(rel[ok]))})

    for name, m, what in synthetic:
        add(name, "matrices.safetensors", what, m)
    for name, f in pairs:
        kind, proj, layer = name.split()
        tensor = {"dW": "after3.%s - %s", "W": "%s", "grad": "grad.%s"}[kind]
        full = p % (int(layer), ("mlp." if proj in ("gate_proj", "up_proj", "down_proj") else "self_attn.") + proj)
        source = "../golden/llama_tiny.safetensors: " + (tensor % (full, full) if kind == "dW" else tensor % full)
        add(name, source, {"dW": "the update of three AdamW steps", "W": "an initial weight",
                           "grad": "a gradient (rank <= 32 tokens)"}[kind], f())
    meta = {"numpy": np.__version__, "torch": torch.__version__,
            "note": "sigma: np.linalg.svd(compute_uv=False) in float64 of the float32 (or float64) matrix; "
                    "torch_max_abs_diff: against torch.linalg.svdvals; gram_route_max_rel_error: the largest "
                    "relative error of sqrt(eigvalsh(A^T A)) over the values >= 1e-10 sigma_1"}
    with open(os.path.join(HERE, "svd_golden.json"), "w") as f:
        json.dump({"meta": meta, "cases": cases}, f, indent=1)
        f.write("\n")
    for c in cases:
        print("%-18s %4dx%-4d sigma_1 %.4g sigma_min %.3g  torch diff %.1e  gram route max rel err %.1e" % (
            c["name"], c["rows"], c["cols"], c["sigma"][0], c["sigma"][-1], c["torch_max_abs_diff"],
            c["gram_route_max_rel_error"]))


if __name__ == "__main__":
    main()
