#!/usr/bin/python3
"""Renders PNG plots of a perennial-server's learning and service metrics from Prometheus.

    /usr/bin/python3 scripts/report.py --prometheus http://127.0.0.1:9090 --minutes 60 --out report/

Writes, for the last --minutes of the server's series that Prometheus scraped:
  learning.png  against samples trained: prequential (test-then-train) and anytime accuracy,
                A_auc and forgetting; zero-shot accuracy and retention per probe.
  service.png   against wall-clock time: accepted ingest samples/s, learner lag, Classify p50/p99 latency,
                model version.
and prints what each panel holds (series and points; --json for one JSON object). Panels without
data say so instead of failing: a frozen server has no learning series, a server without probes
no zero-shot ones. For a `perennial bench-cl` run use scripts/plot_bench_cl.py instead.
Needs python3-matplotlib; talks to Prometheus's HTTP API only.
"""
import argparse
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

# (panel title, y label, [(legend, PromQL with {sel} for the label selector)]); "{probe}" in a
# legend is filled from the series' probe label.
LEARNING_PANELS = [
    ("Stream accuracy", "ratio", [
        ("prequential", "perennial_prequential_accuracy_ratio{sel}"),
        ("anytime (seen classes)", "perennial_anytime_accuracy_ratio{sel}"),
        ("A_auc", "perennial_a_auc_ratio{sel}"),
        ("forgetting", "perennial_forgetting_ratio{sel}"),
    ]),
    ("Zero-shot probes", "ratio", [
        ("accuracy {probe}", "perennial_zero_shot_accuracy_ratio{sel}"),
        ("retention {probe}", "perennial_zero_shot_retention_ratio{sel}"),
    ]),
]
SERVICE_PANELS = [
    ("Ingest", "samples/s", [
        ("accepted", 'sum(rate(perennial_ingest_samples_total{sel_result="accepted"}[1m]))'),
        ("rejected", 'sum(rate(perennial_ingest_samples_total{sel_result="rejected"}[1m]))'),
    ]),
    ("Learner lag", "samples", [("lag", "perennial_learner_lag_samples{sel}")]),
    ("Classify latency", "seconds", [
        ("p50", "histogram_quantile(0.5, sum by (le) (rate("
                'perennial_query_latency_seconds_bucket{sel_method="classify"}[1m])))'),
        ("p99", "histogram_quantile(0.99, sum by (le) (rate("
                'perennial_query_latency_seconds_bucket{sel_method="classify"}[1m])))'),
    ]),
    ("Model version", "version", [("live", "perennial_model_version{sel}")]),
]
SAMPLES_TRAINED = "perennial_learner_samples_trained_total{sel}"


class Prometheus:
    def __init__(self, url, selector, start, end, step):
        self.url = url.rstrip("/")
        self.selector = selector
        self.start, self.end, self.step = start, end, step

    def expr(self, template):
        """Fills {sel} (the label selector) and {sel_x="y"} (selector plus one more matcher)."""
        inner = self.selector
        out = template.replace("{sel}", "{%s}" % inner if inner else "")
        while "{sel_" in out:
            at = out.index("{sel_")
            close = out.index("}", at)
            extra = out[at + len("{sel_"):close]
            out = out[:at] + "{%s}" % ",".join(x for x in (inner, extra) if x) + out[close + 1:]
        return out

    def range(self, template):
        """[(labels, [(t, value)])] of a range query; NaN points dropped."""
        params = urllib.parse.urlencode({"query": self.expr(template), "start": self.start,
                                         "end": self.end, "step": self.step})
        try:
            with urllib.request.urlopen("%s/api/v1/query_range?%s" % (self.url, params),
                                        timeout=30) as response:
                body = json.load(response)
        except (urllib.error.URLError, OSError) as e:
            raise SystemExit("error: cannot query Prometheus at %s: %s" % (self.url, e))
        if body.get("status") != "success":
            raise SystemExit("error: Prometheus refused %r: %s" % (template, body.get("error")))
        series = []
        for s in body["data"]["result"]:
            points = [(float(t), float(v)) for t, v in s["values"] if v not in ("NaN", "+Inf")]
            if points:
                series.append((s["metric"], points))
        return series


def samples_trained_at(prom):
    """A function time -> samples trained (the latest scrape at or before t), or None."""
    series = prom.range(SAMPLES_TRAINED)
    if not series:
        return None
    points = sorted(p for _, ps in series for p in ps)

    def at(t):
        best = None
        for pt, value in points:
            if pt > t:
                break
            best = value
        return best
    return at


def draw(panels, prom, path, x_of=None, x_label="time"):
    """One figure with a row per panel, against x_of(t) or wall-clock time; returns
    {panel: {legend: points}}."""
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3 * len(panels)), dpi=110, squeeze=False)
    summary = {}
    for ax, (title, y_label, queries) in zip(axes[:, 0], panels):
        summary[title] = {}
        for legend, template in queries:
            for labels, points in prom.range(template):
                name = legend.replace("{probe}", labels.get("probe", ""))
                xs, ys = [], []
                for t, v in points:
                    x = x_of(t) if x_of else datetime.datetime.fromtimestamp(t)
                    if x is not None:
                        xs.append(x)
                        ys.append(v)
                if xs:
                    ax.plot(xs, ys, marker="o", markersize=2, label=name)
                    summary[title][name] = len(xs)
        ax.set_title(title if summary[title] else title + " (no data in this range)", fontsize=10)
        ax.set_ylabel(y_label)
        ax.set_xlabel(x_label)
        ax.grid(alpha=0.3)
        if x_of is None:
            ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%H:%M:%S"))
        if summary[title]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090",
                        help="Prometheus base URL (default: %(default)s)")
    parser.add_argument("--job", default="perennial",
                        help='job label of the server\'s series ("" for no filter; default: '
                             "%(default)s, as in deploy/prometheus/prometheus.yml)")
    parser.add_argument("--minutes", type=float, default=60,
                        help="how far back to plot (default: %(default)s)")
    parser.add_argument("--out", default="perennial-report", help="output folder (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    end = time.time()
    start = end - args.minutes * 60
    step = max(1.0, (end - start) / 300)
    selector = 'job="%s"' % args.job if args.job else ""
    prom = Prometheus(args.prometheus, selector, start, end, step)
    os.makedirs(args.out, exist_ok=True)
    x_of = samples_trained_at(prom)
    learning_path = os.path.join(args.out, "learning.png")
    service_path = os.path.join(args.out, "service.png")
    if x_of:
        learning = draw(LEARNING_PANELS, prom, learning_path, x_of, "samples trained")
    else:  # no learner series: plot against time, the panels will say "no data"
        learning = draw(LEARNING_PANELS, prom, learning_path)
    service = draw(SERVICE_PANELS, prom, service_path)
    report = {"prometheus": args.prometheus, "selector": selector, "minutes": args.minutes,
              "files": [learning_path, service_path],
              "panels": dict(learning, **service)}
    if args.json:
        print(json.dumps(report))
    else:
        for title, series in report["panels"].items():
            held = ", ".join("%s (%d points)" % kv for kv in series.items()) or "no data"
            print("%-18s %s" % (title + ":", held))
        print("wrote %s and %s" % (learning_path, service_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
