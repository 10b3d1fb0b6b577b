"""Python client for perennial-server (perennial.v1 over gRPC).

    from perennial_client import Client
    with Client("127.0.0.1:50051") as client:
        summary = client.ingest([("boot.png", "ankle boot")])
        print(client.classify("photo.jpg", ["ankle boot", "shirt"]).label)

The protobuf/gRPC stubs are generated from proto/perennial/v1/*.proto by clients/python/generate.sh
into perennial_client/_generated/ (not committed). Needs python3-grpcio and python3-protobuf;
numpy and PIL only when you pass such images.
"""
from .client import (Classification, Client, Embeddings, IngestSummary, Prediction, SampleResult,
                     to_sample)
from .errors import (DataLossError, DeadlineExceededError, FailedPreconditionError,
                     InvalidArgumentError, NotFoundError, PerennialError, ResourceExhaustedError,
                     UnauthenticatedError, UnavailableError)
from .images import to_image
from .retry import NO_RETRY, RetryPolicy
from ._stubs import admin_pb2, checkpoint_pb2, inference_pb2, ingest_pb2, sample_pb2

__all__ = [
    "Classification", "Client", "Embeddings", "IngestSummary", "Prediction", "SampleResult",
    "to_sample", "to_image", "RetryPolicy", "NO_RETRY",
    "PerennialError", "InvalidArgumentError", "NotFoundError", "UnavailableError",
    "ResourceExhaustedError", "DeadlineExceededError", "FailedPreconditionError", "DataLossError",
    "UnauthenticatedError",
    "admin_pb2", "checkpoint_pb2", "inference_pb2", "ingest_pb2", "sample_pb2",
]
__version__ = "0.1.0"
