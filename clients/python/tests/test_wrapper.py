#!/usr/bin/python3
"""Unit tests of perennial_client's wrapper logic against a scripted in-process gRPC server.

No perennial-server needed: a Python grpc server implements the perennial.v1 services with
canned answers, so retries, retry-after-ms, error mapping and ingest bookkeeping are checked
exactly. Run from the repository root:

    /usr/bin/python3 clients/python/tests/test_wrapper.py

It regenerates the stubs first (clients/python/generate.sh).
"""
import os
import subprocess
import sys
import threading
import time
import unittest
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
subprocess.run([os.path.join(PYTHON_DIR, "generate.sh")], check=True)
sys.path.insert(0, PYTHON_DIR)

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

import perennial_client as pc  # noqa: E402
from perennial_client._generated import admin_pb2_grpc, inference_pb2_grpc  # noqa: E402
from perennial_client._generated import ingest_pb2_grpc  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
FAST = pc.RetryPolicy(max_attempts=4, initial_backoff_s=0.001, max_backoff_s=0.01, jitter=0.0)


class FakeInference(inference_pb2_grpc.InferenceServiceServicer):
    """Classify fails with the scripted codes first, then answers."""

    def __init__(self):
        self.failures = []  # [(StatusCode, retry-after-ms or None)]
        self.calls = 0
        self.last_request = None
        self.embed_requests = []

    def Classify(self, request, context):
        self.calls += 1
        self.last_request = request
        if self.failures:
            code, hint = self.failures.pop(0)
            if hint is not None:
                context.set_trailing_metadata((("retry-after-ms", str(hint)),))
            context.abort(code, "scripted failure")
        return pc.inference_pb2.ClassifyResponse(
            predictions=[pc.inference_pb2.Prediction(label=l, probability=0.5, logit=1.0)
                         for l in request.labels[:2]],
            model_version=7)

    def EmbedText(self, request, context):
        self.embed_requests.append(request)
        return pc.inference_pb2.EmbedTextResponse(
            embeddings=[pc.inference_pb2.Embedding(values=[1.0, 0.0]) for _ in request.texts],
            model_version=3)

    def EmbedImage(self, request, context):
        """Answers each call with the next model version, as if the learner published."""
        self.embed_requests.append(request)
        version = 10 + len(self.embed_requests)
        return pc.inference_pb2.EmbedImageResponse(
            embeddings=[pc.inference_pb2.Embedding(values=[float(i), 1.0])
                        for i in range(len(request.images))],
            model_version=version)


class FakeIngest(ingest_pb2_grpc.IngestServiceServicer):
    """Logs samples; `room` limits how many fit before samples are rejected as retryable."""

    def __init__(self):
        self.room = 10**9
        self.refuse_calls = 0      # calls answered RESOURCE_EXHAUSTED (nothing stored)
        self.unavailable_calls = 0  # calls answered UNAVAILABLE
        self.refill_on_call = 0     # the call with this number (1-based) finds room again
        self.calls = 0
        self.message_sizes = []  # samples per message, per call
        self.logged = []
        self.keys = {}
        self.lock = threading.Lock()

    def Ingest(self, request_iterator, context):
        requests = list(request_iterator)
        with self.lock:
            self.calls += 1
            self.message_sizes.append([len(r.samples) for r in requests])
            if self.calls == self.refill_on_call:
                self.room = 100
            if self.unavailable_calls:
                self.unavailable_calls -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "scripted outage")
            if self.refuse_calls:
                self.refuse_calls -= 1
                context.set_trailing_metadata((("retry-after-ms", "30"),))
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "backlog full")
            response = pc.ingest_pb2.IngestResponse()
            index = 0
            for request in requests:
                for sample in request.samples:
                    result = response.results.add(index=index,
                                                  idempotency_key=sample.idempotency_key)
                    index += 1
                    if not sample.label:
                        result.outcome = pc.SampleResult.REJECTED
                        result.reason = "samples[%d].label: empty" % result.index
                    elif sample.idempotency_key in self.keys:
                        result.outcome = pc.SampleResult.DUPLICATE
                        result.seq = self.keys[sample.idempotency_key]
                    elif self.room <= 0:
                        result.outcome = pc.SampleResult.REJECTED
                        result.retryable = True
                        result.reason = "backlog full"
                        response.retry_after_ms = 20
                    else:
                        self.room -= 1
                        self.logged.append(sample.label)
                        result.outcome = pc.SampleResult.ACCEPTED
                        result.seq = len(self.logged)
                        if sample.idempotency_key:
                            self.keys[sample.idempotency_key] = result.seq
            response.last_seq = len(self.logged)
            return response


class FakeAdmin(admin_pb2_grpc.AdminServiceServicer):

    def Rollback(self, request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, "checkpoint %d is not retained" % request.version)


class WrapperTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.inference, cls.ingest, cls.admin = FakeInference(), FakeIngest(), FakeAdmin()
        cls.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        inference_pb2_grpc.add_InferenceServiceServicer_to_server(cls.inference, cls.server)
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(cls.ingest, cls.server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(cls.admin, cls.server)
        port = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server.start()
        cls.client = pc.Client("127.0.0.1:%d" % port, timeout=10, retry=FAST)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop(None)

    def setUp(self):
        self.inference.failures, self.inference.calls = [], 0
        self.inference.embed_requests = []
        ingest = self.ingest
        ingest.room, ingest.refuse_calls, ingest.unavailable_calls = 10**9, 0, 0
        ingest.calls, ingest.refill_on_call = 0, 0
        ingest.logged, ingest.keys = [], {}

    def test_classify_returns_predictions_and_version(self):
        result = self.client.classify(PNG, ["ankle boot", "shirt", "bag"], top_k=2,
                                      templates=["a photo of a {}."], min_version=4)
        self.assertEqual(result.model_version, 7)
        self.assertEqual(result.label, "ankle boot")
        self.assertEqual([p.label for p in result.predictions], ["ankle boot", "shirt"])
        request = self.inference.last_request
        self.assertEqual((request.top_k, request.min_version), (2, 4))
        self.assertEqual(list(request.templates), ["a photo of a {}."])
        self.assertEqual(request.image.encoded, PNG)

    def test_retry_after_ms_hint_is_honoured(self):
        self.inference.failures = [(grpc.StatusCode.RESOURCE_EXHAUSTED, 120),
                                   (grpc.StatusCode.UNAVAILABLE, None)]
        start = time.monotonic()
        result = self.client.classify(PNG, ["a", "b"])
        elapsed = time.monotonic() - start
        self.assertEqual(result.model_version, 7)
        self.assertEqual(self.inference.calls, 3)
        self.assertGreaterEqual(elapsed, 0.12)  # the hint, not FAST's 1 ms backoff
        self.assertLess(elapsed, 2.0)

    def test_retries_give_up_after_max_attempts(self):
        self.inference.failures = [(grpc.StatusCode.UNAVAILABLE, 1)] * 10
        with self.assertRaises(pc.UnavailableError) as raised:
            self.client.classify(PNG, ["a", "b"])
        self.assertEqual(self.inference.calls, FAST.max_attempts)
        self.assertIn("after 4 attempts", str(raised.exception))
        self.assertEqual(raised.exception.retry_after_ms, 1)

    def test_invalid_argument_is_not_retried(self):
        self.inference.failures = [(grpc.StatusCode.INVALID_ARGUMENT, None)]
        with self.assertRaises(pc.InvalidArgumentError) as raised:
            self.client.classify(PNG, ["a", "b"])
        self.assertEqual(self.inference.calls, 1)
        self.assertEqual(raised.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(raised.exception.details, "scripted failure")
        self.assertIsInstance(raised.exception, pc.PerennialError)

    def test_not_found_maps_to_its_exception(self):
        with self.assertRaises(pc.NotFoundError) as raised:
            self.client.rollback(99)
        self.assertIn("checkpoint 99 is not retained", str(raised.exception))

    def test_ingest_counts_outcomes_in_order_across_windows(self):
        samples = [(PNG, "shirt", "k1"), (PNG, ""), (PNG, "bag", "k1"),
                   {"image": PNG, "label": "boot", "split": "eval"}, (PNG, "coat")]
        summary = self.client.ingest(samples, batch_size=2, window=2)
        self.assertEqual((summary.accepted, summary.duplicates, summary.rejected), (3, 1, 1))
        self.assertEqual(summary.last_seq, 3)
        self.assertEqual([r.index for r in summary.results], [0, 1, 2, 3, 4])
        self.assertEqual([r.outcome for r in summary.results],
                         [pc.SampleResult.ACCEPTED, pc.SampleResult.REJECTED,
                          pc.SampleResult.DUPLICATE, pc.SampleResult.ACCEPTED,
                          pc.SampleResult.ACCEPTED])
        self.assertEqual(summary.results[2].seq, 1)
        self.assertEqual(summary.rejected_results[0].reason, "samples[1].label: empty")
        self.assertEqual(self.ingest.logged, ["shirt", "boot", "coat"])
        self.assertEqual(self.ingest.calls, 3)

    def test_ingest_keeps_big_images_in_messages_of_their_own(self):
        big = PNG + b"\0" * 3000
        samples = [(PNG, "a"), (PNG, "b"), (big, "c"), (PNG, "d"), (big, "e"), (PNG, "f")]
        summary = self.client.ingest(samples, batch_size=64, batch_bytes=1000)
        self.assertEqual(summary.accepted, 6)
        self.assertEqual(self.ingest.message_sizes[-1], [2, 1, 1, 1, 1])
        self.assertEqual(self.ingest.logged[-6:], ["a", "b", "c", "d", "e", "f"])
        self.client.ingest([(PNG, str(i)) for i in range(5)], batch_size=2)
        self.assertEqual(self.ingest.message_sizes[-1], [2, 2, 1])

    def test_ingest_resends_retryable_rejections(self):
        self.ingest.room, self.ingest.refill_on_call = 3, 3
        start = time.monotonic()
        summary = self.client.ingest(((PNG, "l%d" % i) for i in range(6)), batch_size=4)
        elapsed = time.monotonic() - start
        self.assertEqual((summary.accepted, summary.rejected), (6, 0), summary.rejected_results)
        self.assertEqual(self.ingest.logged, ["l0", "l1", "l2", "l3", "l4", "l5"])
        self.assertEqual([r.seq for r in summary.results], [1, 2, 3, 4, 5, 6])
        self.assertEqual(self.ingest.calls, 3)
        self.assertGreaterEqual(elapsed, 0.04)  # two waits of IngestResponse.retry_after_ms

    def test_ingest_reports_retryable_rejections_it_gave_up_on(self):
        self.ingest.room = 1
        summary = self.client.ingest([(PNG, "a"), (PNG, "b")])
        self.assertEqual((summary.accepted, summary.rejected), (1, 1))
        self.assertTrue(summary.rejected_results[0].retryable)
        self.assertEqual(summary.rejected_results[0].index, 1)
        self.assertEqual(self.ingest.calls, FAST.max_attempts)

    def test_ingest_retries_whole_call_refused_with_resource_exhausted(self):
        self.ingest.refuse_calls = 2
        summary = self.client.ingest([(PNG, "a"), (PNG, "b")])
        self.assertEqual(summary.accepted, 2)
        self.assertEqual(self.ingest.calls, 3)
        self.assertEqual(self.ingest.logged, ["a", "b"])

    def test_ingest_does_not_retry_unavailable_without_keys(self):
        self.ingest.unavailable_calls = 1
        with self.assertRaises(pc.UnavailableError) as raised:
            self.client.ingest([(PNG, "a"), (PNG, "b")])
        self.assertEqual(self.ingest.calls, 1)
        self.assertEqual(raised.exception.partial_summary.accepted, 0)

    def test_ingest_retries_unavailable_when_every_sample_has_a_key(self):
        self.ingest.unavailable_calls = 1
        summary = self.client.ingest([(PNG, "a", "ka"), (PNG, "b", "kb")])
        self.assertEqual(summary.accepted, 2)
        self.assertEqual(self.ingest.calls, 2)

    def test_embed_text_accepts_one_string(self):
        result = self.client.embed_text("a photo of a shirt")
        self.assertEqual(result.vectors, [[1.0, 0.0]])
        self.assertEqual(result.model_version, 3)

    def test_embed_image_splits_calls_and_reports_each_version(self):
        result = self.client.embed_image([PNG] * 130)
        sizes = [len(r.images) for r in self.inference.embed_requests]
        self.assertEqual(sizes, [64, 64, 2])
        self.assertEqual([r.min_version for r in self.inference.embed_requests], [0, 11, 12])
        self.assertEqual(len(result.vectors), 130)
        self.assertEqual(result.vectors[64], [0.0, 1.0])  # the second call's first image
        self.assertEqual((result.model_version, result.model_versions), (13, [11, 12, 13]))

    def test_embed_image_in_one_call_lists_no_versions(self):
        result = self.client.embed_image(PNG, min_version=5)
        self.assertEqual(self.inference.embed_requests[0].min_version, 5)
        self.assertEqual((result.model_version, result.model_versions), (11, []))

    def test_embed_text_splits_by_batch_size(self):
        result = self.client.embed_text(["a", "b", "c", "d", "e"], batch_size=2)
        self.assertEqual([len(r.texts) for r in self.inference.embed_requests], [2, 2, 1])
        self.assertEqual(len(result.vectors), 5)
        with self.assertRaises(ValueError):
            self.client.embed_text([])

    def test_labels_must_be_a_list(self):
        with self.assertRaises(TypeError):
            self.client.classify(PNG, "shirt")


class ImageConversionTest(unittest.TestCase):

    def test_numpy_grayscale_and_rgb(self):
        gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
        image = pc.to_image(gray)
        self.assertEqual((image.raw.height, image.raw.width, image.raw.channels), (2, 3, 1))
        self.assertEqual(image.raw.pixels, bytes(range(6)))
        rgb = np.zeros((4, 5, 3), dtype=np.uint8)
        self.assertEqual(pc.to_image(rgb).raw.channels, 3)
        self.assertEqual(len(pc.to_image(rgb).raw.pixels), 60)

    def test_numpy_rejects_wrong_dtype_and_shape(self):
        with self.assertRaises(ValueError):
            pc.to_image(np.zeros((2, 2), dtype=np.float32))
        with self.assertRaises(ValueError):
            pc.to_image(np.zeros((2, 2, 2), dtype=np.uint8))

    def test_pil_modes(self):
        image = pc.to_image(PILImage.new("L", (3, 2), 7))
        self.assertEqual((image.raw.height, image.raw.width, image.raw.channels), (2, 3, 1))
        self.assertEqual(image.raw.pixels, bytes([7] * 6))
        image = pc.to_image(PILImage.new("RGBA", (2, 2), (1, 2, 3, 4)))
        self.assertEqual(image.raw.channels, 3)
        self.assertEqual(image.raw.pixels, bytes([1, 2, 3] * 4))

    def test_bytes_must_be_png_or_jpeg(self):
        self.assertEqual(pc.to_image(b"\xff\xd8\xff\xe0rest").WhichOneof("data"), "encoded")
        with self.assertRaises(ValueError):
            pc.to_image(b"GIF89a")
        with self.assertRaises(TypeError):
            pc.to_image(42)

    def test_sample_forms(self):
        sample = pc.to_sample({"image": PNG, "label": "bag", "split": "eval",
                               "idempotency_key": "k"})
        self.assertEqual((sample.label, sample.split, sample.idempotency_key),
                         ("bag", pc.sample_pb2.Sample.EVAL, "k"))
        with self.assertRaises(ValueError):
            pc.to_sample({"image": PNG, "label": "bag", "splitt": "eval"})
        with self.assertRaises(TypeError):
            pc.to_sample("bag")


if __name__ == "__main__":
    unittest.main()
