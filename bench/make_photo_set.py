#!/usr/bin/python3
"""Writes class sub-folders of 640x480 JPEGs (quality 90) for bench/photo_stream_bench.sh.

Each image is a Fashion-MNIST train image (Debian's dataset-fashion-mnist) scaled to 480x480 on a
coloured, noisy background: the size and entropy of a camera photo, so that decoding and
resizing cost what clients' photos cost, with labels the learner can learn.

Usage: bench/make_photo_set.py OUT_DIR [images per class, default 200]
"""
import gzip
import os
import sys

import numpy as np
from PIL import Image

DATASET = "/usr/share/datasets/fashion-mnist/"
NAMES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
         "boot"]


def main():
    out, per_class = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200
    with gzip.open(DATASET + "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(-1, 28, 28)
    with gzip.open(DATASET + "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read()[8:], dtype=np.uint8)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640]
    written = {c: 0 for c in range(10)}
    for k, label in enumerate(labels):
        c = int(label)
        if written[c] >= per_class:
            if all(n >= per_class for n in written.values()):
                break
            continue
        written[c] += 1
        garment = np.array(Image.fromarray(images[k]).resize((480, 480), Image.BILINEAR))
        canvas = np.stack([60 + 40 * np.sin(xx / 50 + k), 80 + 40 * np.cos(yy / 40 + k),
                           100 + 30 * np.sin((xx + yy) / 70)], -1)
        canvas[:, 80:560] = np.maximum(canvas[:, 80:560],
                                       garment[:, :, None] * np.array([0.9, 0.8, 0.7]))
        canvas += rng.normal(0, 12, canvas.shape)
        os.makedirs(os.path.join(out, NAMES[c]), exist_ok=True)
        Image.fromarray(canvas.clip(0, 255).astype(np.uint8)).save(
            os.path.join(out, NAMES[c], f"{k}.jpg"), quality=90)
    print(f"make_photo_set: {sum(written.values())} images in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
