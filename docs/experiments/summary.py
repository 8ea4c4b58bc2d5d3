#!/usr/bin/env python3
"""Tables of the restart runs (docs/EXPERIMENTS.md, docs/experiments/restart.sh).

usage: summary.py RUNS_DIR [AT,...]   (RUNS_DIR holds one directory per run with its metrics.jsonl)

Per run: the validation loss at every evaluation, and for every optimizer reset the largest
and the median factor step of the first update after it as a ratio to the update before it
(the reset_first_step event) and the jump: the mean training loss of the 20 updates after
the reset less that of the 20 updates up to it. Runs without resets get the same jump at the
updates AT (default 201,401,601), for comparison. Standard library only.
"""
import json
import os
import sys


def load(path):
    loss, val, resets, first = {}, {}, [], {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            s = r["update_step"]
            if r.get("event") == "optimizer_reset":
                resets.append(s)
            elif r.get("event") == "reset_first_step":
                first[s - 1] = r
            elif "val_loss" in r:
                val[s] = r["val_loss"]
            elif "loss" in r:
                loss[s] = r["loss"]
    return loss, val, resets, first


def main():
    root = sys.argv[1]
    at = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "201,401,601").split(",")]
    names = sorted(n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, "metrics.jsonl")))
    for n in names:
        loss, val, resets, first = load(os.path.join(root, n, "metrics.jsonl"))
        vals = " ".join(f"{s}:{v:.4f}" for s, v in sorted(val.items()))
        print(f"{n:20s} val {vals}")
        for s in resets or at:
            before = [loss[k] for k in range(s - 19, s + 1) if k in loss]
            after = [loss[k] for k in range(s + 1, s + 21) if k in loss]
            if not (before and after):
                continue
            jump = sum(after) / len(after) - sum(before) / len(before)
            if not resets:
                print(f"{'':20s} (no reset) {s}: jump {jump:+.3f} nats")
                continue
            e = first.get(s, {})
            print(f"{'':20s} reset {s}: max step ×{e.get('max_ratio', float('nan')):.3g}, "
                  f"median ×{e.get('median_ratio', float('nan')):.3g}, jump {jump:+.3f} nats")


if __name__ == "__main__":
    main()
