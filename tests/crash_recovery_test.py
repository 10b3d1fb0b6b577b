#!/usr/bin/python3
r"""perennial-server survives kill -9 while it ingests, trains and checkpoints (issue 6).

Starts perennial-server (method sit, a checkpoint every few steps and every second) on the tiny
fixture model. A thread streams Fashion-MNIST test images, each under a unique idempotency key,
and records the outcome of every sample: ACKNOWLEDGED (ACCEPTED or DUPLICATE, with its seq) or,
when the call died with the server, IN DOUBT (it may or may not have been logged). The server is
killed with SIGKILL at a seeded-random moment and restarted on the same data directory, ROUNDS
times. After each restart:
  - the live model version is at least the newest checkpoint version listed before the kill;
  - every acknowledged sample sent again comes back DUPLICATE with its original seq (nothing
    acknowledged was lost, no key was stored twice); each in-doubt sample comes back DUPLICATE
    or ACCEPTED, which settles it;
  - GetStatus.last_seq equals the number of distinct keys stored, and their seqs are exactly
    1..last_seq (no gaps);
  - every retained checkpoint has samples_trained == cursor (all samples are TRAIN: a sample
    trained twice, or skipped, into a lineage would break it);
  - /metrics answers and counted the duplicates;
  - learning resumes: with more samples streamed, cursor, steps and samples_trained grow.
At the end the learner catches up (samples_trained == cursor == last_seq), SIGTERM exits 0, and a
last restart resumes exactly there.

Run from the repository root after building the server:

    PERENNIAL_SERVER_BIN=build/bin/perennial-server \
        /usr/bin/python3 tests/crash_recovery_test.py

Environment:
  PERENNIAL_SERVER_BIN, PERENNIAL_TEST_MODEL, CI   as in tests/server_harness.py
  PERENNIAL_TEST_SEED    seeds the kill moments (default 1)
"""
import os
import random
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_harness as harness  # noqa: E402

SEED = int(os.environ.get("PERENNIAL_TEST_SEED", "1"))
ROUNDS = 3
SERVER_FLAGS = ["--learner-batch", "8", "--batch-wait-ms", "20", "--publish-every", "2",
                "--checkpoint-every-steps", "5", "--checkpoint-interval-s", "1",
                "--eval-every", "0"]
IMAGES = 500            # distinct images, reused under new keys
STREAM_BATCH = 8        # samples per Ingest call
STREAM_PAUSE_S = 0.005  # between calls
KILL_DELAY_S = (0.2, 2.5)  # after learning was seen to resume, the kill comes within this
RESUME_TIMEOUT_S = 60


class Streamer(threading.Thread):
    """Ingests keyed samples until stopped; records what the server acknowledged."""

    def __init__(self, pc, target, test):
        super().__init__(daemon=True)
        self.client = pc.Client(target, timeout=10, retry=pc.NO_RETRY)
        self.test = test
        self.stop = threading.Event()
        self.dying = threading.Event()  # set just before the kill: failed calls are expected
        self.errors = []   # unexpected outcomes (failed calls, invalid-sample rejections)

    def run(self):
        test = self.test
        while not self.stop.is_set():
            keys = [test.new_key() for _ in range(STREAM_BATCH)]
            try:
                summary = self.client.ingest([test.sample(k) for k in keys],
                                             batch_size=STREAM_BATCH)
            except test.pc.PerennialError as e:
                # The call died (the server was killed) or was refused: its samples may or may
                # not be in the log. The next restart settles them.
                test.in_doubt.update(keys)
                if not self.dying.is_set():
                    self.errors.append("Ingest failed while the server was up: %r" % e)
                time.sleep(0.05)
                continue
            for key, result in zip(keys, summary.results):
                if result.outcome in (test.pc.SampleResult.ACCEPTED,
                                      test.pc.SampleResult.DUPLICATE):
                    test.acked[key] = result.seq
                elif not result.retryable:  # a retryable rejection stored nothing
                    self.errors.append("%s rejected: %s" % (key, result.reason))
            time.sleep(STREAM_PAUSE_S)
        self.client.close()


class CrashRecoveryTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        harness.require_prerequisites("crash_recovery_test")
        cls.pc = harness.import_client()
        cls.images, cls.labels = harness.fashion_mnist(IMAGES)
        cls.server = harness.ServerProcess(method="sit", flags=SERVER_FLAGS)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def setUp(self):
        self.client = None
        self.streamer = None
        self.next_key = 0
        self.acked = {}        # key -> seq, for every sample the server acknowledged
        self.in_doubt = set()  # keys whose Ingest call died with the server
        self.settled = []      # how each restart settled the in-doubt keys, for the log

    def tearDown(self):
        if self.streamer:  # a failed assertion left it running
            self.streamer.dying.set()
            self.streamer.stop.set()
            self.streamer.join(timeout=30)
        if self.client:
            self.client.close()

    def new_key(self):
        self.next_key += 1
        return "crash-%06d" % self.next_key

    def sample(self, key):
        n = int(key.split("-")[1]) % IMAGES
        return (self.images[n], self.labels[n], key)

    def start_server(self):
        if self.client:
            self.client.close()
        self.server.start()
        self.client = self.pc.Client(self.server.grpc_target, timeout=60)
        self.client.wait_until_ready(timeout=harness.STARTUP_TIMEOUT_S)

    def diagnose(self):
        return "\n" + self.server.tail(20)

    def wait_until(self, predicate, what, timeout=RESUME_TIMEOUT_S):
        """Polls GetStatus until predicate(status); returns that status."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.client.status()
            if predicate(status):
                return status
            if time.monotonic() > deadline:
                self.fail("after %d s: %s; status: cursor %d, last_seq %d, steps %d, "
                          "samples_trained %d%s" % (timeout, what, status.cursor, status.last_seq,
                                                    status.steps, status.samples_trained,
                                                    self.diagnose()))
            time.sleep(0.1)

    def wait_for_cursor(self, target):
        """Polls GetStatus until the cursor reaches `target`; fails only when it stops moving
        for RESUME_TIMEOUT_S (how long catching up takes depends on the machine's load)."""
        best, deadline = -1, None
        while True:
            status = self.client.status()
            if status.cursor >= target:
                return status
            if status.cursor > best:
                best, deadline = status.cursor, time.monotonic() + RESUME_TIMEOUT_S
            elif time.monotonic() > deadline:
                self.fail("the learner stopped at cursor %d of %d for %d s; steps %d, "
                          "samples_trained %d%s" % (status.cursor, target, RESUME_TIMEOUT_S,
                                                    status.steps, status.samples_trained,
                                                    self.diagnose()))
            time.sleep(0.1)

    def stream_until_learning_resumes(self, streamer):
        """Starts `streamer`; returns once cursor, steps, samples_trained and the checkpoint
        version all grew (so every kill comes after this process wrote a checkpoint)."""
        base = self.client.status()
        self.streamer = streamer
        streamer.start()
        self.wait_until(lambda s: (s.cursor > base.cursor and s.steps > base.steps
                                   and s.samples_trained > base.samples_trained
                                   and s.checkpoint_version > base.checkpoint_version),
                        "learning did not resume above cursor %d, steps %d, samples_trained %d, "
                        "checkpoint %d" % (base.cursor, base.steps, base.samples_trained,
                                           base.checkpoint_version))

    def verify_restart(self, newest_checkpoint, round_number):
        where = "after restart %d: " % round_number
        status = self.client.status()
        self.assertGreaterEqual(status.model_version, newest_checkpoint,
                                where + "live version below the newest checkpoint")
        self.assertGreaterEqual(status.checkpoint_version, newest_checkpoint, where)
        self.assertGreaterEqual(status.last_seq, len(self.acked),
                                where + "acknowledged samples lost")

        keys = sorted(self.acked, key=self.acked.get)
        again = self.client.ingest([self.sample(k) for k in keys])
        for key, result in zip(keys, again.results):
            self.assertEqual((result.outcome, result.seq),
                             (self.pc.SampleResult.DUPLICATE, self.acked[key]),
                             where + "acknowledged %s (seq %d) came back %s" % (
                                 key, self.acked[key], result))
        self.assertEqual(again.duplicates, len(keys))

        doubtful = sorted(self.in_doubt)
        settled = self.client.ingest([self.sample(k) for k in doubtful])
        for key, result in zip(doubtful, settled.results):
            self.assertIn(result.outcome, (self.pc.SampleResult.ACCEPTED,
                                           self.pc.SampleResult.DUPLICATE),
                          where + "%s: %s" % (key, result))
            self.acked[key] = result.seq
        self.in_doubt.clear()
        self.settled.append("%d in doubt: %d logged, %d not" % (
            len(doubtful), settled.duplicates, settled.accepted))

        last_seq = self.client.status().last_seq
        self.assertEqual(last_seq, len(self.acked), where + "last_seq is not the number of keys")
        self.assertEqual(sorted(self.acked.values()), list(range(1, last_seq + 1)),
                         where + "seqs are not 1..last_seq")

        listed = self.client.list_checkpoints()
        self.assertEqual(list(listed.corrupt_versions), [], where)
        if newest_checkpoint:
            self.assertIn(newest_checkpoint, [c.version for c in listed.checkpoints],
                          where + "the newest checkpoint before the kill is gone")
        for info in listed.checkpoints:
            self.assertEqual(info.samples_trained, info.cursor,
                             where + "checkpoint %d trained %d samples up to seq %d"
                             % (info.version, info.samples_trained, info.cursor))

        metrics = harness.parse_metrics(self.server.metrics_text())
        self.assertEqual(metrics.get('perennial_ingest_samples_total{result="duplicate"}'),
                         again.duplicates + settled.duplicates, where)
        self.assertIn("perennial_learner_cursor", metrics, where)

    def test_kill_9_loses_nothing_acknowledged(self):
        started = time.monotonic()
        rng = random.Random(SEED)
        self.start_server()
        kills = []
        for round_number in range(1, ROUNDS + 1):
            streamer = Streamer(self.pc, self.server.grpc_target, self)
            self.stream_until_learning_resumes(streamer)
            time.sleep(rng.uniform(*KILL_DELAY_S))
            newest = max((c.version for c in self.client.list_checkpoints().checkpoints),
                         default=0)
            before = self.client.status()
            streamer.dying.set()
            self.assertEqual(self.server.kill(), -9, self.diagnose())
            streamer.stop.set()
            streamer.join(timeout=30)
            self.assertEqual(streamer.errors, [])
            kills.append("seq %d cursor %d checkpoint %d"
                         % (before.last_seq, before.cursor, newest))
            self.start_server()
            self.verify_restart(newest, round_number)

        # Learning resumes after the last restart and catches up; then a clean stop.
        streamer = Streamer(self.pc, self.server.grpc_target, self)
        self.stream_until_learning_resumes(streamer)
        streamer.stop.set()
        streamer.join(timeout=30)
        self.assertEqual(streamer.errors, [])
        self.assertEqual(self.in_doubt, set())
        last_seq = len(self.acked)
        caught_up = self.wait_for_cursor(last_seq)
        self.assertEqual(caught_up.cursor, last_seq)
        self.assertEqual(caught_up.last_seq, last_seq)
        self.assertEqual(caught_up.samples_trained, last_seq,
                         "samples trained into the live lineage != samples logged")
        self.assertEqual(self.server.stop(), 0, "SIGTERM" + self.diagnose())

        # The final checkpoint holds everything: a restart resumes at the end of the log.
        self.start_server()
        resumed = self.client.status()
        self.assertEqual((resumed.cursor, resumed.samples_trained, resumed.last_seq),
                         (last_seq, last_seq, last_seq))
        self.assertGreaterEqual(resumed.model_version, caught_up.model_version)
        self.assertEqual(self.server.stop(), 0, "SIGTERM" + self.diagnose())
        print("\nkills at: %s; restarts settled %s; %d samples; %.1f s"
              % ("; ".join(kills), "; ".join(self.settled), last_seq, time.monotonic() - started),
              file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
