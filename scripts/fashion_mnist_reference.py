#!/usr/bin/python3
"""Reference numbers pinned in learner/data/fashion_mnist_test.cc, computed with numpy from the
same files the C++ reader loads (Debian package dataset-fashion-mnist).

Run (from the repository root):
    /usr/bin/python3 scripts/fashion_mnist_reference.py
"weighted" is sum(pixel[k] * (k % 65521 + 1)) over the concatenated pixel bytes of all images
(k counts from 0), so it changes if images are reordered or shifted, not only if values change.
"""
import gzip

import numpy as np

DIR = "/usr/share/datasets/fashion-mnist/"

for split, count in (("train", 60000), ("t10k", 10000)):
    with gzip.open(DIR + split + "-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read()[16:], dtype=np.uint8)
    with gzip.open(DIR + split + "-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read()[8:], dtype=np.uint8)
    assert images.size == count * 784 and labels.size == count
    wide = images.astype(np.uint64)
    weights = np.arange(images.size, dtype=np.uint64) % 65521 + 1
    print(split, "first labels", labels[:10].tolist(), "last label", int(labels[-1]))
    print("  pixel sum", int(wide.sum()), "weighted", int((wide * weights).sum()))
    print("  image 0 sum", int(wide[:784].sum()),
          "image 0 pixel (14,14)", int(images[14 * 28 + 14]))
    print("  label counts", np.bincount(labels).tolist())
