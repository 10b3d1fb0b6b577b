#!/usr/bin/python3
"""Streams Fashion-MNIST into a running perennial-server, then classifies a few test images.

Reads Debian's dataset-fashion-mnist IDX files with gzip + numpy, sends N training samples (every
k-th one marked EVAL so the server can measure anytime accuracy), and asks the live model about a
few held-out images. Start a server first (`make serve`), then, from the repository root:

    clients/python/generate.sh
    /usr/bin/python3 clients/python/examples/stream_fashion_mnist.py -n 2000 --by-class

Watch the learning curves on the dashboard while it runs (deploy/README.md).
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import perennial_client as pc  # noqa: E402

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle boot"]


def read_idx(directory, split):
    """(images uint8 [n, 28, 28], labels uint8 [n]) of split "train" or "t10k"."""
    with gzip.open(os.path.join(directory, split + "-images-idx3-ubyte.gz")) as f:
        data = f.read()
    count, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    images = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows, cols)
    with gzip.open(os.path.join(directory, split + "-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return images, labels


def stream(images, labels, order, eval_every, run_id):
    """Yields sample dicts in stream order; idempotency keys make re-runs harmless."""
    for position, i in enumerate(order):
        yield {
            "image": images[i],
            "label": CLASSES[labels[i]],
            "idempotency_key": "fashion-mnist/train/%d/%s" % (i, run_id),
            "split": "eval" if eval_every and position % eval_every == eval_every - 1 else "train",
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="server gRPC address")
    parser.add_argument("-n", "--samples", type=int, default=1000, help="samples to stream")
    parser.add_argument("--by-class", action="store_true",
                        help="class-incremental order (all of class 0, then 1, ...); "
                             "default: the file's order")
    parser.add_argument("--eval-every", type=int, default=10,
                        help="mark every k-th sample EVAL (0: none)")
    parser.add_argument("--chunk", type=int, default=250, help="samples per progress line")
    parser.add_argument("--classify", type=int, default=5, help="test images to classify")
    parser.add_argument("--run-id", default="run1",
                        help="part of the idempotency keys: the same id re-sends as duplicates")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()

    images, labels = read_idx(args.data, "train")
    count = min(args.samples, len(labels))
    order = np.arange(count)
    if args.by_class:
        order = order[np.argsort(labels[:count], kind="stable")]

    with pc.Client(args.target) as client:
        status = client.wait_until_ready(timeout=120)
        print("server %s: model version %d, method %s, %d samples logged"
              % (args.target, status.model_version, status.method, status.last_seq))
        samples = stream(images, labels, order, args.eval_every, args.run_id)
        start, sent, totals = time.monotonic(), 0, pc.IngestSummary()
        while sent < count:
            chunk = [next(samples) for _ in range(min(args.chunk, count - sent))]
            summary = client.ingest(chunk)
            sent += len(chunk)
            totals.accepted += summary.accepted
            totals.duplicates += summary.duplicates
            totals.rejected += summary.rejected
            for result in summary.rejected_results[:3]:
                print("  rejected sample %d: %s" % (sent - len(chunk) + result.index, result.reason))
            rate = sent / max(time.monotonic() - start, 1e-9)
            print("sent %d/%d (%.0f samples/s): accepted %d, duplicates %d, rejected %d, "
                  "last seq %d" % (sent, count, rate, totals.accepted, totals.duplicates,
                                   totals.rejected, summary.last_seq))

        test_images, test_labels = read_idx(args.data, "t10k")
        correct = 0
        for i in range(args.classify):
            result = client.classify(test_images[i], CLASSES, top_k=3)
            truth = CLASSES[test_labels[i]]
            correct += result.label == truth
            guesses = ", ".join("%s %.2f" % (p.label, p.probability) for p in result.predictions)
            print("test image %d (%s): %s [model v%d]" % (i, truth, guesses, result.model_version))
        if args.classify:
            print("%d/%d correct" % (correct, args.classify))

        status = client.status()
        print("status: %s, model version %d, lag %d samples"
              % (pc.admin_pb2.GetStatusResponse.Health.Name(status.health), status.model_version,
                 status.lag_samples))
        for name, value in sorted(status.metrics.items()):
            print("  %s = %.4f" % (name, value))


if __name__ == "__main__":
    try:
        main()
    except pc.PerennialError as e:
        sys.exit("error: %s" % e)
