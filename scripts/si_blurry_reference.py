#!/usr/bin/python3
"""Pure-Python second implementation of learner/data/stream.cc (StreamRng, SiBlurryOrder).

It exists to cross-check the numbers pinned in learner/data/stream_test.cc and
learner/data/fashion_mnist_test.cc: the C++ code and this script were written from the same
written procedure (the comment at the top of stream.cc), so agreement means the C++ does what the
comment says. It needs no third-party package (its own MT19937-64, as the C++ standard defines it).

Run (from the repository root):
    /usr/bin/python3 scripts/si_blurry_reference.py
It prints the pinned values: five StreamRng(1).Uniform(1000) draws, the shuffle of 0..7 with
seed 1, the OrderHash of SiBlurryOrder on stream_test.cc's synthetic labels (default options), and
the OrderHash of SiBlurryOrder on Fashion-MNIST train labels (default options, seed 1) read from
/usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist).
"""
import gzip
import math
import os

MASK64 = (1 << 64) - 1


class MT19937_64:
    """std::mt19937_64 ([rand.predef]): w=64 n=312 m=156 r=31."""

    def __init__(self, seed):
        self.mt = [0] * 312
        self.mt[0] = seed & MASK64
        for i in range(1, 312):
            prev = self.mt[i - 1]
            self.mt[i] = (6364136223846793005 * (prev ^ (prev >> 62)) + i) & MASK64
        self.index = 312

    def _twist(self):
        upper, lower = 0xFFFFFFFF80000000, 0x7FFFFFFF
        for i in range(312):
            x = (self.mt[i] & upper) | (self.mt[(i + 1) % 312] & lower)
            xa = x >> 1
            if x & 1:
                xa ^= 0xB5026F5AA96619E9
            self.mt[i] = self.mt[(i + 156) % 312] ^ xa
        self.index = 0

    def __call__(self):
        if self.index >= 312:
            self._twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & MASK64


class StreamRng:
    def __init__(self, seed):
        self.engine = MT19937_64(seed)

    def uniform(self, n):
        threshold = ((1 << 64) - n) % n
        while True:
            r = self.engine()
            if r >= threshold:
                return r % n

    def shuffle(self, v):
        for i in range(len(v), 1, -1):
            j = self.uniform(i)
            v[i - 1], v[j] = v[j], v[i - 1]


def floor_ratio(ratio, count):
    return int(math.floor(ratio * count + 1e-9))


def random_composition(n, parts, rng):
    cuts = [0] + [rng.uniform(n + 1) for _ in range(parts - 1)] + [n]
    cuts[1:-1] = sorted(cuts[1:-1])
    return [cuts[i + 1] - cuts[i] for i in range(parts)]


def fill_empty_tasks(disjoint, blurry, rng):
    for e in range(len(disjoint)):
        if disjoint[e] + blurry[e] > 0:
            continue
        donors = [j for j in range(len(disjoint)) if disjoint[j] + blurry[j] >= 2]
        j = donors[rng.uniform(len(donors))]
        if rng.uniform(disjoint[j] + blurry[j]) < disjoint[j]:
            disjoint[j] -= 1
            disjoint[e] += 1
        else:
            blurry[j] -= 1
            blurry[e] += 1


def si_blurry_order(labels, num_tasks=5, n_ratio=0.5, m_ratio=0.1, seed=1):
    classes = sorted(set(labels))
    rng = StreamRng(seed)
    order = list(classes)
    rng.shuffle(order)
    num_disjoint = floor_ratio(n_ratio, len(classes))
    d = random_composition(num_disjoint, num_tasks, rng)
    b = random_composition(len(classes) - num_disjoint, num_tasks, rng)
    fill_empty_tasks(d, b, rng)
    home = {}
    pos = 0
    for counts in (d, b):
        for t, k in enumerate(counts):
            for _ in range(k):
                home[order[pos]] = t
                pos += 1
    blurry = set(order[num_disjoint:])
    sample_task = [home[c] for c in labels]
    if num_tasks >= 2:
        blurry_samples = [i for i, c in enumerate(labels) if c in blurry]
        n = len(blurry_samples)
        for k in range(min(n, floor_ratio(m_ratio, n))):
            j = k + rng.uniform(n - k)
            blurry_samples[k], blurry_samples[j] = blurry_samples[j], blurry_samples[k]
            s = blurry_samples[k]
            other = rng.uniform(num_tasks - 1)
            sample_task[s] = other if other < sample_task[s] else other + 1
    per_task = [[] for _ in range(num_tasks)]
    for i, t in enumerate(sample_task):
        per_task[t].append(i)
    indices, boundaries = [], []
    for task in per_task:
        rng.shuffle(task)
        boundaries.append(len(indices))
        indices.extend(task)
    return indices, boundaries


def order_hash(indices, boundaries):
    h = 1469598103934665603
    for v in list(indices) + list(boundaries):
        v &= MASK64
        for b in range(8):
            h ^= (v >> (8 * b)) & 0xFF
            h = (h * 1099511628211) & MASK64
    return h


def synthetic_labels():
    labels = []
    for c in range(10):
        labels += [c] * (100 + 13 * c)
    mixed = [0] * len(labels)
    for i, c in enumerate(labels):
        mixed[(i * 7919) % len(labels)] = c
    return mixed


def main():
    engine = MT19937_64(5489)
    for _ in range(9999):
        engine()
    assert engine() == 9981545732273789042, "MT19937-64 check value"
    rng = StreamRng(1)
    print("Uniform(1000) x5, seed 1:", [rng.uniform(1000) for _ in range(5)])
    v = list(range(8))
    StreamRng(1).shuffle(v)
    print("Shuffle(0..7), seed 1:", v)
    print("SiBlurry synthetic hash:", order_hash(*si_blurry_order(synthetic_labels())))
    path = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"
    if os.path.exists(path):
        with gzip.open(path, "rb") as f:
            labels = list(f.read()[8:])
        indices, boundaries = si_blurry_order(labels)
        print("SiBlurry Fashion-MNIST train hash:", order_hash(indices, boundaries))
        print("  task boundaries:", boundaries, "first indices:", indices[:5])


if __name__ == "__main__":
    main()
