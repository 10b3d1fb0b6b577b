#!/usr/bin/python3
"""Zero-shot probes and the held-out set survive a restart (issue 6).

Sets a Fashion-MNIST probe on a learning server, checks the retention series appear on /metrics,
logs more EVAL samples than the held-out set keeps, stops the server (SIGTERM) and starts it
again on the same data directory without calling SetProbes: the stored probe is re-applied at
startup, with the same base accuracy, and the held-out set is full again before the server
serves (refilled from the log, decoding only the samples its reservoir keeps).

    PERENNIAL_SERVER_BIN=build/bin/perennial-server /usr/bin/python3 tests/probes_restart_test.py
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_harness as harness  # noqa: E402
from server_harness import CLASSES  # noqa: E402

PROBE = "fmnist4"
PROBE_LABELS = CLASSES[:4]
HELD_OUT = 12  # --max-eval-samples, below the EVAL samples logged


def wait_for_series(server, series, timeout=30):
    """The value of `series` on /metrics once it appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return harness.metric_value(server.metrics_text(), series)
        except AssertionError:
            time.sleep(0.2)
    raise AssertionError("%s did not appear on /metrics" % series)


class ProbesRestartTest(unittest.TestCase):

    def log_eval_samples(self, pc, server, images, labels):
        """Logs EVAL samples and waits until the learner has passed them."""
        with pc.Client(server.grpc_target, timeout=60) as client:
            summary = client.ingest([{"image": image, "label": label, "split": "eval"}
                                     for image, label in zip(images, labels)])
            self.assertEqual(summary.accepted, len(labels))
            deadline = time.monotonic() + 30
            while client.status().cursor < summary.last_seq:
                self.assertLess(time.monotonic(), deadline, server.tail())
                time.sleep(0.1)
            self.assertEqual(client.status().metrics["eval_samples"], HELD_OUT)

    def test_probes_and_the_held_out_set_survive_a_restart(self):
        harness.require_prerequisites("probes_restart_test")
        pc = harness.import_client()
        images, labels = harness.fashion_mnist(200)
        samples = [(images[i], labels[i]) for i in range(200) if labels[i] in PROBE_LABELS][:40]
        server = harness.ServerProcess(method="sit+vrlwf",
                                       flags=["--max-eval-samples", str(HELD_OUT)])
        try:
            server.start()
            with pc.Client(server.grpc_target, timeout=60) as client:
                client.wait_until_ready()
                base = client.set_probes([{"name": PROBE, "labels": PROBE_LABELS,
                                           "samples": samples}])[PROBE]
            series = 'perennial_zero_shot_base_accuracy_ratio{probe="%s"}' % PROBE
            self.assertAlmostEqual(wait_for_series(server, series), base, places=9)
            wait_for_series(server, 'perennial_zero_shot_retention_ratio{probe="%s"}' % PROBE)
            self.log_eval_samples(pc, server, images[100:130], labels[100:130])
            self.assertEqual(server.stop(), 0, server.tail())

            server.start()
            with pc.Client(server.grpc_target, timeout=60) as client:
                self.assertEqual(client.status().metrics["eval_samples"], HELD_OUT)
            self.assertAlmostEqual(wait_for_series(server, series), base, places=9)
            accuracy = wait_for_series(
                server, 'perennial_zero_shot_accuracy_ratio{probe="%s"}' % PROBE)
            self.assertGreaterEqual(accuracy, 0.0)
            self.assertLessEqual(accuracy, 1.0)
            self.assertEqual(server.stop(), 0, server.tail())
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
