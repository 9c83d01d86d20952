#!/usr/bin/env python3
"""Plots the results of scripts/bench: Mpps against flow count, frame size and threads.

    scripts/bench-plot.py [out/bench/results.jsonl] [docs/performance.png]

Needs matplotlib (pip install matplotlib).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STYLE = {("route", "established"): ("tab:blue", "-", "o"), ("route", "new-flows"): ("tab:blue", "--", "s"),
         ("sg", "established"): ("tab:orange", "-", "o"), ("sg", "new-flows"): ("tab:orange", "--", "s"),
         ("nat", "established"): ("tab:green", "-", "o"), ("nat", "new-flows"): ("tab:green", "--", "s"),
         ("mixed", "established"): ("tab:red", "-", "o"), ("mixed", "new-flows"): ("tab:red", "--", "s")}


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "out/bench/results.jsonl")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs/performance.png")
    rows = [json.loads(line) for line in open(src) if line.strip()]
    unique = {}
    for r in rows:
        if not r.get("extra-rules"):
            unique.setdefault((r["scenario"], r["threads"], r["flows"], r["size"]), r)
    rows = list(unique.values())
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))

    def series(ax, pick, xkey, logx=False):
        for (scenario, phase), (color, dash, marker) in STYLE.items():
            pts = sorted((r[xkey], r[phase]["mpps"]) for r in rows if r["scenario"] == scenario and pick(r))
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color=color, linestyle=dash, marker=marker,
                        label=f"{scenario} {phase}")
        if logx:
            ax.set_xscale("log")
        ax.set_ylabel("Mpps (median of 5)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)

    series(axes[0], lambda r: r["threads"] == 1 and r["size"] == 64, "flows", logx=True)
    axes[0].set_xlabel("established flows (1 thread, 64-byte frames)")
    axes[0].set_title("Mpps vs flow count")
    series(axes[1], lambda r: r["threads"] == 1 and r["flows"] == 1000, "size")
    axes[1].set_xlabel("frame size, bytes with FCS (1 thread, 1,000 flows)")
    axes[1].set_title("Mpps vs frame size")
    series(axes[2], lambda r: r["size"] == 64 and r["flows"] == 1000, "threads")
    axes[2].set_xlabel("threads (64-byte frames, 1,000 flows)")
    axes[2].set_xticks([1, 2])
    axes[2].set_title("Mpps vs threads")
    axes[0].legend(loc="lower left", fontsize=8)
    machine = rows[0].get("cpu-model", "") if rows else ""
    fig.suptitle(f"nimbus bench: route and sg on security-groups.yaml, nat on nat-private.yaml, mixed on "
                 f"load-balancer.yaml — {rows[0].get('cpus', '?')} CPUs, {machine}"
                 if rows else "nimbus bench")
    fig.tight_layout()
    fig.savefig(dst, dpi=100)
    print(f"wrote {os.path.relpath(dst, ROOT)}")


if __name__ == "__main__":
    main()
