"""perennial_client.Client: a small, blocking wrapper over perennial.v1's three gRPC services."""
import dataclasses
import itertools
import time
from typing import List, Optional

import grpc

from . import errors
from . import retry as retry_lib
from ._stubs import admin_pb2, admin_pb2_grpc, inference_pb2, inference_pb2_grpc
from ._stubs import ingest_pb2, ingest_pb2_grpc, sample_pb2
from .images import to_image

SampleResult = ingest_pb2.SampleResult
_SPLITS = {"train": sample_pb2.Sample.TRAIN, "eval": sample_pb2.Sample.EVAL}


@dataclasses.dataclass(frozen=True)
class Prediction:
    label: str
    probability: float
    logit: float


@dataclasses.dataclass(frozen=True)
class Classification:
    """Classify's answer: `predictions` best first, and the model version that computed them."""
    predictions: List[Prediction]
    model_version: int

    @property
    def label(self):
        """The most probable label."""
        return self.predictions[0].label if self.predictions else None


@dataclasses.dataclass(frozen=True)
class Embeddings:
    """Unit-norm vectors, one per input in order, and the model version that computed them.

    More inputs than one call takes go in several calls, each asking for at least the version
    the previous one answered with: `model_version` is the last call's, and `model_versions`
    lists every call's when there were several. They differ only if the learner published a
    new model between calls (`Client.pause_learning` first for vectors of one version).
    """
    vectors: List[List[float]]
    model_version: int
    model_versions: List[int] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class IngestSummary:
    """What happened to every sample passed to Client.ingest.

    `results[i]` is the SampleResult of the i-th sample given (its `index` is i); a sample that
    was rejected as retryable and then accepted on a retry shows its final outcome.
    """
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    last_seq: int = 0
    results: List[SampleResult] = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return self.rejected == 0

    @property
    def rejected_results(self):
        return [r for r in self.results if r.outcome == SampleResult.REJECTED]

    def __repr__(self):
        return ("IngestSummary(accepted=%d, duplicates=%d, rejected=%d, last_seq=%d)"
                % (self.accepted, self.duplicates, self.rejected, self.last_seq))


def to_sample(item):
    """Returns a perennial.v1.Sample for `item`.

    Accepts a Sample message; a tuple (image, label) or (image, label, idempotency_key); or a
    dict with keys image, label and optionally idempotency_key and split ("train" or "eval").
    `image` is anything perennial_client.images.to_image accepts.
    """
    if isinstance(item, sample_pb2.Sample):
        return item
    if isinstance(item, dict):
        unknown = set(item) - {"image", "label", "idempotency_key", "split"}
        if unknown:
            raise ValueError("unknown sample keys %s" % sorted(unknown))
        split = item.get("split", "train")
        if isinstance(split, str):
            if split.lower() not in _SPLITS:
                raise ValueError("split must be 'train' or 'eval', got %r" % split)
            split = _SPLITS[split.lower()]
        return sample_pb2.Sample(image=to_image(item["image"]), label=item["label"],
                                 idempotency_key=item.get("idempotency_key", ""), split=split)
    if isinstance(item, tuple) and len(item) in (2, 3):
        key = item[2] if len(item) == 3 else ""
        return sample_pb2.Sample(image=to_image(item[0]), label=item[1], idempotency_key=key)
    raise TypeError("a sample is a Sample message, (image, label[, key]) or a dict; got %s"
                    % type(item).__name__)


def _messages(items, max_count, max_bytes):
    """`items` (protocol buffer messages: samples, images) in order, as lists of at most
    `max_count` items and `max_bytes` serialized bytes (a bigger item goes alone): one list
    per request."""
    batch, size = [], 0
    for item in items:
        n = item.ByteSize()
        if batch and (len(batch) == max_count or size + n > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += n
    if batch:
        yield batch


def _chunks(iterable, size):
    iterator = iter(iterable)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk


class Client:
    """A connection to one perennial-server.

        with Client("127.0.0.1:50051") as client:
            client.ingest([("boot.png", "ankle boot"), ("shirt.png", "shirt")])
            print(client.classify("photo.jpg", ["ankle boot", "shirt"]).label)

    Calls are blocking and thread-safe (one channel, shared). Failures raise subclasses of
    perennial_client.PerennialError; calls the server refuses for now (UNAVAILABLE,
    RESOURCE_EXHAUSTED) are retried per `retry`, honouring the server's retry-after-ms hint.

    Args:
      target: "host:port" of the gRPC listener.
      timeout: default per-call deadline in seconds (None: no deadline).
      retry: a RetryPolicy; perennial_client.NO_RETRY disables retries.
      root_certificates: PEM bytes; when given (or when `secure` is true) the channel uses TLS.
      token: sent as "authorization: Bearer <token>" on every call.
      options: extra grpc channel options, e.g. [("grpc.max_receive_message_length", ...)].
    """

    def __init__(self, target="127.0.0.1:50051", *, timeout=30.0,
                 retry: Optional[retry_lib.RetryPolicy] = None, secure=False,
                 root_certificates=None, token=None, options=None):
        channel_options = [("grpc.max_send_message_length", 16 << 20),
                           ("grpc.max_receive_message_length", 16 << 20)]
        channel_options += list(options or [])
        if secure or root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, credentials, options=channel_options)
        else:
            self._channel = grpc.insecure_channel(target, options=channel_options)
        self.target = target
        self.timeout = timeout
        self.retry = retry if retry is not None else retry_lib.RetryPolicy()
        self._metadata = (("authorization", "Bearer " + token),) if token else None
        self._ingest = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self._inference = inference_pb2_grpc.InferenceServiceStub(self._channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait_until_ready(self, timeout=60.0):
        """Blocks until GetStatus answers with a loaded model (health past STARTING)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self._call("GetStatus", self._admin.GetStatus,
                                    admin_pb2.GetStatusRequest(), retry=retry_lib.NO_RETRY,
                                    timeout=min(5.0, timeout))
                if status.health not in (admin_pb2.GetStatusResponse.HEALTH_UNSPECIFIED,
                                         admin_pb2.GetStatusResponse.STARTING):
                    return status
            except errors.UnavailableError:
                pass
            if time.monotonic() >= deadline:
                raise errors.DeadlineExceededError(
                    "%s not ready after %.0f s" % (self.target, timeout),
                    code=grpc.StatusCode.DEADLINE_EXCEEDED)
            time.sleep(0.1)

    # --- inference ----------------------------------------------------------------------------

    def classify(self, image, labels=None, templates=None, top_k=None, min_version=None,
                 label_set=None, timeout=None) -> Classification:
        """Zero-shot classification of one image against `labels` (or a stored `label_set`).

        `image`: PNG/JPEG bytes, a path, a PIL image or a numpy uint8 array. `templates`: prompt
        templates with "{}" for the label. `top_k`: predictions returned (server default 5).
        `min_version`: wait until the live model is at least this version (read-your-writes).
        """
        if isinstance(labels, str):
            raise TypeError("labels must be a list of class names, not one string")
        request = inference_pb2.ClassifyRequest(
            image=to_image(image), labels=list(labels or []), label_set=label_set or "",
            templates=list(templates or []), top_k=top_k or 0, min_version=min_version or 0)
        response = self._call("Classify", self._inference.Classify, request, timeout=timeout)
        return Classification(
            predictions=[Prediction(p.label, p.probability, p.logit) for p in response.predictions],
            model_version=response.model_version)

    def embed_image(self, images, min_version=None, timeout=None, batch_size=64,
                    batch_bytes=4 << 20) -> Embeddings:
        """Embeddings of one image or a list of images, in calls of at most `batch_size`
        images (the server's --max-embed-images, 64 by default) and `batch_bytes` of them (a
        bigger image goes alone)."""
        if not isinstance(images, (list, tuple)):
            images = [images]
        if not images:
            raise ValueError("embed_image needs at least one image")
        return self._embed_in_calls(
            "EmbedImage", self._inference.EmbedImage,
            _messages([to_image(i) for i in images], batch_size, batch_bytes),
            lambda chunk, version: inference_pb2.EmbedImageRequest(images=chunk,
                                                                   min_version=version),
            min_version, timeout)

    def embed_text(self, texts, min_version=None, timeout=None, batch_size=256) -> Embeddings:
        """Embeddings of one text or a list of texts, used as given (no template), in calls of
        at most `batch_size` texts (the server's --max-embed-texts, 256 by default)."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise ValueError("embed_text needs at least one text")
        return self._embed_in_calls(
            "EmbedText", self._inference.EmbedText, _chunks(texts, batch_size),
            lambda chunk, version: inference_pb2.EmbedTextRequest(texts=chunk,
                                                                  min_version=version),
            min_version, timeout)

    def _embed_in_calls(self, name, rpc, chunks, make_request, min_version, timeout):
        vectors, versions = [], []
        for chunk in chunks:
            version = versions[-1] if versions else (min_version or 0)
            response = self._call(name, rpc, make_request(chunk, version), timeout=timeout)
            vectors.extend(list(e.values) for e in response.embeddings)
            versions.append(response.model_version)
        return Embeddings(vectors, versions[-1], versions if len(versions) > 1 else [])

    # --- ingestion ----------------------------------------------------------------------------

    def ingest(self, samples, batch_size=64, window=4096, timeout=None,
               batch_bytes=4 << 20) -> IngestSummary:
        """Streams labeled samples into the server's log; returns what happened to each.

        `samples`: any iterable (a generator is consumed lazily) of Sample messages,
        (image, label[, idempotency_key]) tuples or dicts (see to_sample). They are sent as
        client-streaming Ingest calls of up to `window` samples, `batch_size` per message and
        at most `batch_bytes` per message (a bigger image goes alone): the default keeps
        messages of camera photos under the server's default --max-message-bytes (16 MiB).

        Retries: a call refused with RESOURCE_EXHAUSTED stored nothing, so it is sent again after
        the server's retry-after-ms. Samples the server answers REJECTED-but-retryable (backlog
        filled up mid-call) are sent again after IngestResponse.retry_after_ms. A call failing
        with UNAVAILABLE may have stored part of its samples: it is retried only when every
        sample of the window has an idempotency key (duplicates are then recognized), otherwise
        UnavailableError is raised and summary-so-far is attached as `error.partial_summary`.
        Invalid samples never raise: they come back REJECTED with a reason.
        """
        summary = IngestSummary()
        for window_samples in _chunks((to_sample(s) for s in samples), window):
            try:
                response_last_seq, results = self._ingest_window(
                    window_samples, batch_size, batch_bytes, timeout)
            except errors.PerennialError as e:
                e.partial_summary = summary
                raise
            offset = len(summary.results)
            for i, result in enumerate(results):
                result.index = offset + i
                if result.outcome == SampleResult.ACCEPTED:
                    summary.accepted += 1
                elif result.outcome == SampleResult.DUPLICATE:
                    summary.duplicates += 1
                else:
                    summary.rejected += 1
            summary.results.extend(results)
            summary.last_seq = max(summary.last_seq, response_last_seq)
        return summary

    def _ingest_window(self, samples, batch_size, batch_bytes, timeout):
        keyed = all(s.idempotency_key for s in samples)
        codes = retry_lib.RETRYABLE_CODES if keyed else {grpc.StatusCode.RESOURCE_EXHAUSTED}
        final = [None] * len(samples)
        pending = list(range(len(samples)))
        last_seq = 0
        for attempt in itertools.count():
            requests = [ingest_pb2.IngestRequest(samples=message)
                        for message in _messages([samples[i] for i in pending], batch_size,
                                                 batch_bytes)]
            response = self._call("Ingest", self._ingest.Ingest, lambda: iter(requests),
                                  timeout=timeout, retry_codes=codes)
            last_seq = max(last_seq, response.last_seq)
            again = []
            for result in response.results:
                if result.index >= len(pending):
                    raise errors.PerennialError(
                        "Ingest: server answered for sample %d of %d" % (result.index, len(pending)))
                position = pending[result.index]
                final[position] = result
                if result.outcome == SampleResult.REJECTED and result.retryable:
                    again.append(position)
            if (not again or not self.retry.retry_rejected_samples
                    or attempt + 1 >= self.retry.max_attempts):
                break
            time.sleep(self.retry.delay_s(attempt, response.retry_after_ms or None))
            pending = again
        missing = [i for i, r in enumerate(final) if r is None]
        if missing:
            raise errors.PerennialError(
                "Ingest: no result for %d of %d samples (first: %d)"
                % (len(missing), len(samples), missing[0]))
        return last_seq, final

    # --- administration -----------------------------------------------------------------------

    def status(self, timeout=None) -> admin_pb2.GetStatusResponse:
        """Health, versions, lag, backlog and current learning metrics (GetStatusResponse)."""
        return self._call("GetStatus", self._admin.GetStatus, admin_pb2.GetStatusRequest(),
                          timeout=timeout)

    def checkpoint(self, tags=(), timeout=None):
        """Checkpoints the live model now; returns its CheckpointInfo."""
        response = self._call("Checkpoint", self._admin.Checkpoint,
                              admin_pb2.CheckpointRequest(tags=list(tags)), timeout=timeout,
                              retry=retry_lib.NO_RETRY)
        return response.checkpoint

    def list_checkpoints(self, timeout=None) -> admin_pb2.ListCheckpointsResponse:
        return self._call("ListCheckpoints", self._admin.ListCheckpoints,
                          admin_pb2.ListCheckpointsRequest(), timeout=timeout)

    def rollback(self, version, resume_from_head=False, timeout=None) -> admin_pb2.RollbackResponse:
        """Makes retained checkpoint `version` live (0: the base model). Not retried."""
        request = admin_pb2.RollbackRequest(version=version, resume_from_head=resume_from_head)
        return self._call("Rollback", self._admin.Rollback, request, timeout=timeout,
                          retry=retry_lib.NO_RETRY)

    def set_label_set(self, name, labels, templates=(), timeout=None) -> int:
        """Stores (or with no labels deletes) a named label set; returns its label count."""
        request = admin_pb2.SetLabelSetRequest(name=name, labels=list(labels),
                                               templates=list(templates))
        return self._call("SetLabelSet", self._admin.SetLabelSet, request,
                          timeout=timeout).label_count

    def set_probes(self, probes, timeout=None):
        """Replaces the zero-shot probes; returns {probe name: base-model accuracy}.

        Each probe is an admin_pb2.Probe or a dict with name and either dataset or samples
        (items as for ingest), optionally labels and templates.
        """
        messages = []
        for probe in probes:
            if isinstance(probe, dict):
                probe = admin_pb2.Probe(
                    name=probe["name"], labels=list(probe.get("labels", [])),
                    samples=[to_sample(s) for s in probe.get("samples", [])],
                    dataset=probe.get("dataset", ""), templates=list(probe.get("templates", [])))
            messages.append(probe)
        response = self._call("SetProbes", self._admin.SetProbes,
                              admin_pb2.SetProbesRequest(probes=messages), timeout=timeout)
        return dict(response.base_accuracy)

    def add_vocabulary(self, words, timeout=None):
        """Adds replay-vocabulary words; returns (added, total)."""
        response = self._call("AddVocabulary", self._admin.AddVocabulary,
                              admin_pb2.AddVocabularyRequest(words=list(words)), timeout=timeout)
        return response.added, response.total

    def pause_learning(self, timeout=None):
        return self._call("PauseLearning", self._admin.PauseLearning,
                          admin_pb2.PauseLearningRequest(), timeout=timeout)

    def resume_learning(self, timeout=None):
        return self._call("ResumeLearning", self._admin.ResumeLearning,
                          admin_pb2.ResumeLearningRequest(), timeout=timeout)

    # --- plumbing -----------------------------------------------------------------------------

    def _call(self, method, stub_method, request, timeout=None, retry=None,
              retry_codes=retry_lib.RETRYABLE_CODES):
        """One RPC with deadline, metadata and retries. `request` may be a factory (streaming)."""
        deadline = self.timeout if timeout is None else timeout

        def invoke():
            payload = request() if callable(request) else request
            return stub_method(payload, timeout=deadline, metadata=self._metadata)

        return retry_lib.call(retry or self.retry, method, invoke, retry_codes=retry_codes)
