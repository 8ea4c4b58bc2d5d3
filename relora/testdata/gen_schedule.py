#!/usr/bin/env python3
"""Generate relora/testdata/schedule_golden.json.

Independent derivation of the schedule multipliers, written from the formulas
of docs/METHOD.md section 5 (not from the Go code). Standard library only. Run from the repository root:

    python3 relora/testdata/gen_schedule.py > relora/testdata/schedule_golden.json
"""
import json
import math


def envelope(x, n, w1, m):
    # cosine decay from 1 to m over the steps after the first warmup
    span = n - w1 if n - w1 > 1 else 1
    return m + (1.0 - m) * (1.0 + math.cos(math.pi * x / span)) / 2.0


def cosine_restarts(t, n, w1, wr, c, m, a):
    if t < w1:
        return t / (w1 if w1 > 1 else 1)
    shifted = t + a
    cycle_idx, in_cycle = divmod(shifted, c)
    if t >= c and in_cycle < wr:
        target = envelope(cycle_idx * c + wr - w1, n, w1, m)
        return (in_cycle / (wr if wr > 1 else 1)) * target
    return envelope(shifted - w1, n, w1, m)


def cosine(t, n, w, cyc, m):
    length = cyc if cyc else n
    pos = t % length
    if pos < w:
        if t >= length and pos <= 1:
            return 1e-7
        return pos / (w if w > 1 else 1)
    span = length - w if length - w > 1 else 1
    return m + (1.0 - m) * (1.0 + math.cos(math.pi * (pos - w) / span)) / 2.0


def linear(t, n, w):
    if t < w:
        return t / (w if w > 1 else 1)
    span = n - w if n - w > 1 else 1
    return max(0.0, (n - t) / span)


def case(kind, n, w1, wr, c, m, a):
    if kind == "cosine_restarts":
        f = lambda t: cosine_restarts(t, n, w1, wr, c, m, a)
    elif kind == "cosine":
        f = lambda t: cosine(t, n, w1, c, m)
    else:
        f = lambda t: linear(t, n, w1)
    return {
        "kind": kind, "steps": n, "warmup": w1, "restart_warmup": wr,
        "cycle": c, "min_ratio": m, "adjust_step": a,
        "lambda": [f(t) for t in range(n + 1)],
    }


CASES = [
    # kind, N, W1, Wr, C, m, a
    ("cosine_restarts", 120, 7, 4, 30, 0.05, 3),
    ("cosine_restarts", 60, 0, 1, 20, 1.0, 0),
    ("cosine_restarts", 48, 3, 12, 12, 0.25, 9),
    ("cosine", 90, 6, 0, 30, 0.2, 0),
    ("cosine", 50, 0, 0, 0, 0.3, 0),
    ("cosine", 50, 1, 0, 10, 0.5, 0),
    ("linear", 40, 8, 0, 0, 0.1, 0),
    ("linear", 10, 0, 0, 0, 0.1, 0),
]

if __name__ == "__main__":
    print(json.dumps([case(*c) for c in CASES], indent=1))
