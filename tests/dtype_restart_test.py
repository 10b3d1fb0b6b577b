#!/usr/bin/python3
"""A data directory trained in bf16 resumes in fp32 with the same adapters (issue 8).

`--dtype auto` is the server's default and picks bf16 on CPUs with AVX512-BF16, so a data
directory may move to a machine (or a flag) that computes in fp32. The adapters and optimizer
state are fp32 whatever the compute dtype, so a checkpoint must carry over: this test trains a
server in bf16, stops it (SIGTERM: final checkpoint), restarts it on the same directory in
fp32, and checks that
  - each server reports its dtype (GetStatus.dtype, the dtype label of perennial_build_info);
  - the restarted server serves the version the bf16 server ended on, and
  - answers with the learned model's logits (within bf16 rounding), not the frozen model's.
bf16 on a CPU without AVX512-BF16 is emulated (slow, still correct), so this runs anywhere.

    PERENNIAL_SERVER_BIN=build/bin/perennial-server /usr/bin/python3 tests/dtype_restart_test.py
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_harness as harness  # noqa: E402
from server_harness import CLASSES  # noqa: E402

FLAGS = ["--learner-batch", "8", "--batch-wait-ms", "20", "--publish-every", "2",
         "--eval-every", "0", "--lr", "3e-3"]
TRAIN_SAMPLES = 120
QUERY_IMAGES = 4
# bf16 keeps 8 significant bits: the tiny model's logits (~1-3, logit scale x cosine) differ by
# a few hundredths between bf16 and fp32 compute (0.040-0.065 at most here, on an AVX512-BF16
# CPU, depending on which kernels multiply); training moves them by ~2 (1.96-2.11 here). Both
# measured with these flags, deterministic from run to run.
LOGIT_TOLERANCE = 0.15


def logits(client, images, min_version=None):
    """([{label: logit}] per image, model_version) of the server's answers."""
    answers = [client.classify(image, CLASSES, top_k=len(CLASSES),
                               min_version=min_version) for image in images]
    versions = {answer.model_version for answer in answers}
    assert len(versions) == 1, versions
    return [{p.label: p.logit for p in answer.predictions} for answer in answers], versions.pop()


def largest_difference(a, b):
    return max(abs(x[label] - y[label]) for x, y in zip(a, b) for label in x)


def wait_until_trained(client, timeout=60):
    """The model version once the learner has trained every logged sample."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.status()
        if status.cursor >= status.last_seq:
            return status.model_version
        time.sleep(0.1)
    raise AssertionError("the learner did not catch up in %d s: %s" % (timeout, client.status()))


class DtypeRestartTest(unittest.TestCase):

    def assertDtype(self, server, client, dtype):
        """The server reports `dtype` in GetStatus and on perennial_build_info."""
        self.assertEqual(client.status().dtype, dtype)
        info = [line for line in server.metrics_text().splitlines()
                if line.startswith("perennial_build_info{")]
        self.assertEqual(len(info), 1, info)
        self.assertIn('dtype="%s"' % dtype, info[0])

    def test_bf16_checkpoint_resumes_in_fp32(self):
        harness.require_prerequisites("dtype_restart_test")
        pc = harness.import_client()
        images, labels = harness.fashion_mnist(TRAIN_SAMPLES + QUERY_IMAGES)
        queries = images[TRAIN_SAMPLES:]
        bf16 = harness.ServerProcess(method="sit", flags=FLAGS + ["--dtype", "bf16"])
        fp32 = harness.ServerProcess(method="sit", flags=FLAGS + ["--dtype", "fp32"],
                                     data_dir=bf16.data_dir)
        try:
            bf16.start()
            with pc.Client(bf16.grpc_target, timeout=60) as client:
                client.wait_until_ready()
                self.assertDtype(bf16, client, "bf16")
                frozen, version = logits(client, queries)
                self.assertEqual(version, 0)
                summary = client.ingest([(images[i], labels[i], "train-%d" % i)
                                         for i in range(TRAIN_SAMPLES)])
                self.assertEqual((summary.accepted, summary.rejected), (TRAIN_SAMPLES, 0))
                trained_version = wait_until_trained(client)
                self.assertGreater(trained_version, 0)
                learned, version = logits(client, queries, min_version=trained_version)
            self.assertEqual(bf16.stop(), 0, bf16.tail())
            self.assertEqual(version, trained_version)
            moved = largest_difference(learned, frozen)
            self.assertGreater(moved, 3 * LOGIT_TOLERANCE,
                               "training barely moved the logits; the comparison below would "
                               "not tell a restored model from a fresh one")

            fp32.start()
            with pc.Client(fp32.grpc_target, timeout=60) as client:
                client.wait_until_ready()
                self.assertDtype(fp32, client, "fp32")
                self.assertEqual(client.status().model_version, trained_version)
                resumed, version = logits(client, queries)
            self.assertEqual(fp32.stop(), 0, fp32.tail())
            self.assertEqual(version, trained_version)
            print("logits moved by training: %.3f; fp32 restart vs bf16 at version %d: %.3f"
                  % (moved, version, largest_difference(resumed, learned)), file=sys.stderr)
            self.assertLess(largest_difference(resumed, learned), LOGIT_TOLERANCE,
                            "fp32 answers differ from the bf16 server's at the same version "
                            "(learned logits moved by %.3f)" % moved)
        finally:
            fp32.cleanup()  # stops a live process; the directory is bf16's to remove
            bf16.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
