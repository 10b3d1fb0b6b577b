#!/usr/bin/python3
"""Draws the anytime-accuracy curves of a `perennial bench-cl` run as a PNG.

    /usr/bin/python3 scripts/plot_bench_cl.py bench-cl-results/results.json curves.png

One line per method: the mean over seeds of the accuracy on the test samples of the classes seen
so far, against the number of stream samples trained; a band of +- one standard deviation when
there are several seeds. The legend carries each method's A_auc. Needs python3-matplotlib.
"""
import json
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def mean_curve(runs):
    """x, mean, std over the seeds' curves (cut to the shortest)."""
    curves = [np.array(run["curve"], dtype=float) for run in runs if run["curve"]]
    if not curves:
        return None
    length = min(len(c) for c in curves)
    stacked = np.stack([c[:length] for c in curves])
    return stacked[0, :, 0], stacked[:, :, 1].mean(axis=0), stacked[:, :, 1].std(axis=0)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        results = json.load(f)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for method, runs in results["methods"].items():
        curve = mean_curve(runs)
        if curve is None:
            continue
        x, mean, std = curve
        a_auc = np.mean([run["a_auc"] for run in runs])
        ax.plot(x, mean, marker="o", markersize=3, label="%s (A_auc %.3f)" % (method, a_auc))
        if len(runs) > 1:
            ax.fill_between(x, mean - std, mean + std, alpha=0.15)
    ax.set_xlabel("stream samples trained")
    ax.set_ylabel("anytime accuracy (seen classes)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.set_title(textwrap.fill(results.get("command", ""), 110), fontsize=7)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
