#!/usr/bin/python3
"""perennial_client against a real perennial-server.

Starts the server binary on free loopback ports (the server picks them: --listen 127.0.0.1:0) with
a temporary data directory and a small model, then ingests, classifies, embeds and administers
through the Python client, and checks the Prometheus counters the calls moved. Run from the
repository root after building the server:

    PERENNIAL_SERVER_BIN=build/bin/perennial-server /usr/bin/python3 clients/python/tests/test_client.py

Environment:
  PERENNIAL_SERVER_BIN   server binary (default build/bin/perennial-server)
  PERENNIAL_TEST_MODEL   weights to serve (default tests/fixtures/tiny_clip/openai_fp32.safetensors)
  CI                     when "true", a missing binary or model FAILS the tests instead of skipping

It regenerates the stubs first (clients/python/generate.sh).
"""
import gzip
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(PYTHON_DIR))
subprocess.run([os.path.join(PYTHON_DIR, "generate.sh")], check=True)
sys.path.insert(0, PYTHON_DIR)

import numpy as np  # noqa: E402

import perennial_client as pc  # noqa: E402

SERVER_BIN = os.path.join(ROOT, os.environ.get("PERENNIAL_SERVER_BIN", "build/bin/perennial-server"))
MODEL = os.path.join(ROOT, os.environ.get("PERENNIAL_TEST_MODEL",
                                          "tests/fixtures/tiny_clip/openai_fp32.safetensors"))
IN_CI = os.environ.get("CI", "").lower() == "true"
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
           "ankle boot"]
STARTUP_TIMEOUT_S = 120


def missing_prerequisite():
    """Why the server cannot be started here, or None."""
    if not os.access(SERVER_BIN, os.X_OK):
        return ("server binary %s does not exist (build it: make build; or set "
                "PERENNIAL_SERVER_BIN)" % SERVER_BIN)
    if not os.path.exists(MODEL):
        return "model %s does not exist (set PERENNIAL_TEST_MODEL)" % MODEL
    return None


def fashion_mnist(count):
    """The first `count` test images (28x28 uint8) and labels, from Debian's dataset package."""
    with gzip.open(os.path.join(FASHION_MNIST, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(16 + count * 784)[16:], dtype=np.uint8)
    with gzip.open(os.path.join(FASHION_MNIST, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(8 + count)[8:], dtype=np.uint8)
    return images.reshape(count, 28, 28), [CLASSES[i] for i in labels]


class ServerProcess:
    """perennial-server in a temporary data directory; ports parsed from its startup line."""

    def __init__(self):
        self.data_dir = tempfile.mkdtemp(prefix="perennial_client_test_")
        self.log = []
        self.process = subprocess.Popen(
            [SERVER_BIN, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
             "--data-dir", self.data_dir, "--model", MODEL, "--threads", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.grpc_port = self.metrics_port = None
        ready = threading.Event()

        def read_output():
            for line in self.process.stdout:
                self.log.append(line.rstrip())
                match = re.search(r"gRPC on [^ ,]+:(\d+)", line)
                if match:
                    self.grpc_port = int(match.group(1))
                match = re.search(r"metrics on http://[^ ]+:(\d+)/metrics", line)
                if match:
                    self.metrics_port = int(match.group(1))
                if line.startswith("serving"):
                    ready.set()
            ready.set()  # exited

        self.reader = threading.Thread(target=read_output, daemon=True)
        self.reader.start()
        if not ready.wait(STARTUP_TIMEOUT_S) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("perennial-server did not start:\n" + "\n".join(self.log))

    def metrics(self):
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def stop(self):
        """SIGTERM, then wait for the final checkpoint; returns the exit status."""
        code = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait()
        else:
            code = self.process.returncode
        self.reader.join(timeout=5)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        return code


def metric_value(text, series):
    """The value of one exact series line (name{labels}) in Prometheus text format."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError("series %s not in /metrics" % series)


class ClientAgainstServerTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        why = missing_prerequisite()
        if why:
            print("test_client: " + why, file=sys.stderr)
            if IN_CI:
                raise AssertionError("CI=true and the server cannot run: " + why)
            raise unittest.SkipTest(why)
        cls.server = ServerProcess()
        cls.client = pc.Client("127.0.0.1:%d" % cls.server.grpc_port, timeout=60)
        cls.client.wait_until_ready(timeout=STARTUP_TIMEOUT_S)
        cls.images, cls.labels = fashion_mnist(12)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        code = cls.server.stop()
        if code != 0:
            raise AssertionError("perennial-server exited with %s after SIGTERM:\n%s"
                                 % (code, "\n".join(cls.server.log[-30:])))

    def test_1_status_of_a_fresh_server(self):
        status = self.client.status()
        self.assertIn(status.health, (pc.admin_pb2.GetStatusResponse.SERVING,
                                      pc.admin_pb2.GetStatusResponse.LEARNING))
        self.assertTrue(status.method)
        self.assertTrue(status.base_model_id)
        self.assertTrue(status.server_version)
        self.assertGreater(status.backlog_limit, 0)

    def test_2_ingest_logs_samples_in_order_and_dedups(self):
        before = self.client.status().last_seq
        samples = [(self.images[i], self.labels[i], "fmnist-test-%d" % i) for i in range(8)]
        summary = self.client.ingest(samples, batch_size=3)
        self.assertEqual((summary.accepted, summary.duplicates, summary.rejected), (8, 0, 0))
        self.assertEqual([r.seq for r in summary.results], list(range(before + 1, before + 9)))
        self.assertEqual(summary.last_seq, before + 8)

        again = self.client.ingest(samples[:2] + [(self.images[8], self.labels[8])])
        self.assertEqual((again.accepted, again.duplicates), (1, 2))
        self.assertEqual([r.seq for r in again.results[:2]], [before + 1, before + 2])
        self.assertEqual(again.last_seq, before + 9)
        self.assertGreaterEqual(self.client.status().last_seq, before + 9)

    def test_3_invalid_samples_are_rejected_with_a_reason(self):
        bad = pc.sample_pb2.Sample(
            image=pc.sample_pb2.Image(raw=pc.sample_pb2.RawImage(
                height=28, width=28, channels=3, pixels=bytes(784))),
            label="coat")
        summary = self.client.ingest([bad, (self.images[9], "   ")])
        self.assertEqual((summary.accepted, summary.rejected), (0, 2))
        self.assertIn("pixels", summary.results[0].reason)
        self.assertIn("label", summary.results[1].reason)
        self.assertFalse(any(r.retryable for r in summary.results))

    def test_4_classify(self):
        result = self.client.classify(self.images[0], CLASSES, top_k=3)
        self.assertEqual(len(result.predictions), 3)
        probabilities = [p.probability for p in result.predictions]
        self.assertEqual(probabilities, sorted(probabilities, reverse=True))
        self.assertTrue(all(0.0 <= p <= 1.0 for p in probabilities))
        self.assertTrue(set(p.label for p in result.predictions) <= set(CLASSES))
        self.assertGreaterEqual(result.model_version, 0)
        everything = self.client.classify(self.images[0], CLASSES, top_k=len(CLASSES))
        self.assertAlmostEqual(sum(p.probability for p in everything.predictions), 1.0, places=4)

    def test_5_bad_queries_raise_invalid_argument(self):
        with self.assertRaises(pc.InvalidArgumentError) as raised:
            self.client.classify(self.images[0], [])
        self.assertIn("labels", raised.exception.details)
        with self.assertRaises(pc.InvalidArgumentError):
            self.client.classify(self.images[0], ["shirt", "shirt"])

    def test_6_embeddings_are_unit_norm(self):
        text = self.client.embed_text(["a photo of a shirt", "a photo of a bag"])
        image = self.client.embed_image([self.images[0], self.images[1]])
        self.assertEqual(len(text.vectors), 2)
        self.assertEqual(len(image.vectors), 2)
        self.assertEqual(len(text.vectors[0]), len(image.vectors[0]))
        for vector in text.vectors + image.vectors:
            self.assertAlmostEqual(math.sqrt(sum(v * v for v in vector)), 1.0, places=3)

    def test_7_rollback_to_an_unknown_version_is_not_found(self):
        with self.assertRaises(pc.NotFoundError):
            self.client.rollback(987654)

    def test_8_metrics_counted_the_calls(self):
        text = self.server.metrics()
        # test_2: 8 + 1 accepted, 2 duplicates; test_3: 2 rejected (tests run in name order).
        self.assertEqual(metric_value(text, 'perennial_ingest_samples_total{result="accepted"}'), 9)
        self.assertEqual(metric_value(text, 'perennial_ingest_samples_total{result="duplicate"}'),
                         2)
        self.assertEqual(metric_value(text, 'perennial_ingest_samples_total{result="rejected"}'),
                         2)
        self.assertGreaterEqual(
            metric_value(text, 'perennial_query_latency_seconds_count{method="classify"}'), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
