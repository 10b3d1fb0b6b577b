#!/usr/bin/python3
r"""perennial-server learns a Si-Blurry Fashion-MNIST stream while it serves (issue 6).

Starts perennial-server with a learning method (default sit+vrlwf, the service's default) on
the tiny fixture model, then:
  1. classifies a held-out set of Fashion-MNIST test images of the stream's classes with the
     frozen base model (version 0), over those classes: the baseline accuracy;
  2. logs the held-out set as EVAL samples (never trained on; they feed anytime evaluation) and
     streams Fashion-MNIST train images of the same classes in a blurry class-incremental order
     (see blurry_stream), classifying while the learner trains: every call must succeed, and the
     model versions they report never go back and grow;
  3. waits until the learner's cursor reaches the last logged sample (GetStatus), classifies the
     held-out set again with min_version = the live version, and asserts the accuracy is clearly
     above the frozen one (MIN_GAIN), and that GetStatus reports anytime and prequential accuracy.

Run from the repository root after building the server:

    PERENNIAL_SERVER_BIN=build/bin/perennial-server \
        /usr/bin/python3 tests/learning_integration_test.py

Environment:
  PERENNIAL_SERVER_BIN, PERENNIAL_TEST_MODEL, CI   as in tests/server_harness.py
  PERENNIAL_TEST_METHOD  learner method (default sit+vrlwf). MIN_GAIN is calibrated for it: plain
                         sit forgets the first disjoint class more and lands lower (seeds 1-4
                         with these flags: 0.50-0.63, where sit+vrlwf reached 0.63-0.69)
  PERENNIAL_TEST_SEED    seeds the choice and order of the samples and --learner-seed (default 1)

Measured on the 2-core development machine (loaded by other jobs): about 4.5 s for the stream
and both evaluations, 6-8 s in all with the server start.
"""
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_harness as harness  # noqa: E402
from server_harness import CLASSES  # noqa: E402

METHOD = os.environ.get("PERENNIAL_TEST_METHOD", "sit+vrlwf")
SEED = int(os.environ.get("PERENNIAL_TEST_SEED", "1"))

# The stream: DISJOINT classes appear in one half of the stream only, BLURRY ones throughout
# (Si-Blurry's two kinds of class), TRAIN_PER_CLASS train images each.
DISJOINT_FIRST, DISJOINT_SECOND = "t-shirt", "sneaker"
BLURRY = ["trouser", "bag"]
SEEN = [DISJOINT_FIRST, BLURRY[0], DISJOINT_SECOND, BLURRY[1]]
TRAIN_PER_CLASS = 200
HELD_OUT_PER_CLASS = 40
INGEST_CHUNK = 16
# The learner: 3 iterations per batch (Si-Blurry's online_iter) at the default LoRA learning rate;
# higher rates (3e-3, 1e-2) learned the late classes faster but forgot the first disjoint class
# more and made the final accuracy less predictable across seeds.
SERVER_FLAGS = ["--learner-batch", "16", "--batch-wait-ms", "50", "--online-iters", "3",
                "--lr", "1e-3", "--publish-every", "2", "--eval-every", "64",
                "--max-eval-samples", str(HELD_OUT_PER_CLASS * len(SEEN)),
                "--learner-seed", str(SEED)]
CATCH_UP_TIMEOUT_S = 60
# Accuracy over 4 classes: the frozen tiny model answers "trouser" for everything (0.25); after
# the stream the learned one must be at least this much (absolute) above the frozen one. Seeds
# 1-10 with sit+vrlwf gave 0.54-0.75 (t-shirt, the disjoint class of the first half, is the one
# partly forgotten); the default seed 1 gave 0.625 on every run (ingestion outpaces the learner,
# so its batches are full and the run deterministic on one machine).
MIN_GAIN = 0.25


def class_indices(split, names, count, rng):
    """`count` seeded-random image indices of each class in `names`: {name: [index, ...]}."""
    labels = harness.fashion_mnist_labels(split)
    chosen = {}
    for name in names:
        pool = [i for i, label in enumerate(labels) if CLASSES[label] == name]
        chosen[name] = rng.sample(pool, count)
    return chosen


def blurry_stream(rng):
    """Train-split indices in stream order.

    First half: DISJOINT_FIRST and half of each BLURRY class, shuffled; second half:
    DISJOINT_SECOND and the other half of the BLURRY classes, shuffled.
    """
    by_class = class_indices("train", SEEN, TRAIN_PER_CLASS, rng)
    half = TRAIN_PER_CLASS // 2
    first = by_class[DISJOINT_FIRST] + [i for c in BLURRY for i in by_class[c][:half]]
    second = by_class[DISJOINT_SECOND] + [i for c in BLURRY for i in by_class[c][half:]]
    rng.shuffle(first)
    rng.shuffle(second)
    return first + second


class LearningIntegrationTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_prerequisites("learning_integration_test", train_split=True)
        cls.pc = harness.import_client()
        rng = random.Random(SEED)
        stream = blurry_stream(rng)
        cls.train_images, cls.train_labels = harness.fashion_mnist(indices=stream, split="train")
        held_out = [i for c in SEEN
                    for i in class_indices("test", [c], HELD_OUT_PER_CLASS, rng)[c]]
        cls.eval_images, cls.eval_labels = harness.fashion_mnist(indices=held_out, split="test")
        cls.server, cls.client = harness.start_with_client(cls.pc, METHOD, SERVER_FLAGS)

    @classmethod
    def tearDownClass(cls):
        harness.stop_with_client(cls.server, cls.client)

    def held_out_accuracy(self, min_version=None):
        """(accuracy, versions seen) of classifying the held-out set over the SEEN classes."""
        correct, versions = 0, set()
        for image, label in zip(self.eval_images, self.eval_labels):
            result = self.client.classify(image, SEEN, top_k=1, min_version=min_version)
            correct += result.label == label
            versions.add(result.model_version)
        return correct / len(self.eval_labels), versions

    def wait_for_cursor(self, last_seq):
        deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
        while True:
            status = self.client.status()
            if status.cursor >= last_seq:
                return status
            if time.monotonic() > deadline:
                self.fail("learner cursor %d did not reach seq %d in %d s (steps %d)\n%s"
                          % (status.cursor, last_seq, CATCH_UP_TIMEOUT_S, status.steps,
                             self.server.tail()))
            time.sleep(0.2)

    def test_stream_raises_accuracy_above_frozen(self):
        started = time.monotonic()
        status = self.client.status()
        self.assertEqual(status.model_version, 0)
        self.assertTrue(status.method.startswith(METHOD + "/"), status.method)
        frozen, versions = self.held_out_accuracy()
        self.assertEqual(versions, {0})

        summary = self.client.ingest(
            [{"image": image, "label": label, "idempotency_key": "fmnist-t10k-%d" % i,
              "split": "eval"}
             for i, (image, label) in enumerate(zip(self.eval_images, self.eval_labels))])
        self.assertEqual((summary.accepted, summary.rejected), (len(self.eval_labels), 0))

        # Stream in chunks, one query per chunk; keep querying while the learner catches up.
        versions = []
        rng = random.Random(SEED + 1)
        for begin in range(0, len(self.train_labels), INGEST_CHUNK):
            end = min(begin + INGEST_CHUNK, len(self.train_labels))
            summary = self.client.ingest(
                [(self.train_images[i], self.train_labels[i], "fmnist-train-%d" % i)
                 for i in range(begin, end)])
            self.assertEqual((summary.accepted, summary.rejected), (end - begin, 0))
            probe = rng.randrange(len(self.eval_labels))
            versions.append(self.client.classify(self.eval_images[probe], SEEN).model_version)
        last_seq = summary.last_seq
        self.assertEqual(last_seq, len(self.eval_labels) + len(self.train_labels))
        while self.client.status().cursor < last_seq and time.monotonic() - started < 60:
            versions.append(self.client.classify(self.eval_images[0], SEEN).model_version)
            time.sleep(0.1)
        self.assertEqual(versions, sorted(versions), "a query saw the model version go back")
        self.assertGreater(versions[-1], versions[0],
                           "queries during the stream all saw version %d" % versions[0])

        trained = self.wait_for_cursor(last_seq)
        self.assertGreater(trained.steps, 0)
        self.assertEqual(trained.samples_trained, len(self.train_labels))
        self.assertGreaterEqual(trained.model_version, versions[-1])
        learned, versions = self.held_out_accuracy(min_version=trained.model_version)
        # A last publication may follow the final step: the live version is at least this one.
        self.assertGreaterEqual(min(versions), trained.model_version)
        print("\n%s seed %d: held-out accuracy frozen %.3f, after %d samples (%d steps, "
              "version %d) %.3f; %.1f s" % (METHOD, SEED, frozen, trained.samples_trained,
                                           trained.steps, trained.model_version, learned,
                                           time.monotonic() - started), file=sys.stderr)
        self.assertGreaterEqual(learned, frozen + MIN_GAIN,
                                "held-out accuracy %.3f after learning, frozen %.3f"
                                % (learned, frozen))

        # Anytime evaluation ran on the EVAL samples; prequential accuracy on the stream.
        metrics = self.client.status().metrics
        for name in ("anytime_acc", "prequential_acc", "loss"):
            self.assertIn(name, metrics)
        for name in ("anytime_acc", "prequential_acc"):
            self.assertTrue(0.0 <= metrics[name] <= 1.0, "%s = %s" % (name, metrics[name]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
