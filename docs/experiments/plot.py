#!/usr/bin/env python3
"""Loss curves of the Brown comparison (docs/EXPERIMENTS.md).

usage: plot.py RUNS_DIR OUT.png   (RUNS_DIR holds full/, lora_only/, lora_warm/, relora/)
Needs matplotlib (Debian: apt-get install python3-matplotlib).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

RUNS = [("full", "full-rank"), ("lora_only", "low-rank from scratch"),
        ("lora_warm", "LoRA + warm start"), ("relora", "ReLoRA + warm start")]


def load(path):
    train, val, events = [], [], []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "event" in r:
                if r["event"] == "merge":
                    events.append(r["update_step"])
            elif "val_loss" in r:
                val.append((r["update_step"], r["val_loss"]))
            else:
                train.append((r["update_step"], r["loss"]))
    return train, val, events


def smooth(xs, k=25):
    out, acc = [], []
    for x in xs:
        acc.append(x)
        if len(acc) > k:
            acc.pop(0)
        out.append(sum(acc) / len(acc))
    return out


def main():
    root, out = sys.argv[1], sys.argv[2]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, label in RUNS:
        train, val, events = load(f"{root}/{name}/metrics.jsonl")
        steps = [s for s, _ in train]
        line, = a.plot(steps, smooth([l for _, l in train]), label=label, linewidth=1.2)
        b.plot([s for s, _ in val], [v for _, v in val], marker="o", label=label, color=line.get_color())
        for e in events:
            a.axvline(e, color=line.get_color(), alpha=0.25, linestyle=":")
    a.set(title="training loss (moving average of 25 updates; dotted: ReLoRA merges)",
          xlabel="update", ylabel="nats per byte", ylim=(1.3, 3.0))
    b.set(title="validation loss (Brown val)", xlabel="update", ylabel="nats per byte", ylim=(1.3, 3.0))
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
