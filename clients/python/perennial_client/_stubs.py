"""Imports the generated protobuf/gRPC modules, with a clear error when they are missing."""
import hashlib
import os
import warnings

_HERE = os.path.dirname(os.path.abspath(__file__))
_PROTO_DIR = os.path.join(_HERE, "..", "..", "..", "proto", "perennial", "v1")

try:
    from ._generated import PROTO_SHA256
    from ._generated import admin_pb2, admin_pb2_grpc  # noqa: F401
    from ._generated import checkpoint_pb2  # noqa: F401
    from ._generated import inference_pb2, inference_pb2_grpc  # noqa: F401
    from ._generated import ingest_pb2, ingest_pb2_grpc  # noqa: F401
    from ._generated import sample_pb2  # noqa: F401
except ImportError as e:
    raise ImportError(
        "perennial_client: the generated gRPC stubs are missing or broken (%s). Generate them "
        "with clients/python/generate.sh (needs Debian's protobuf-compiler and "
        "protobuf-compiler-grpc; the runtime needs python3-grpcio and python3-protobuf)." % e
    ) from e


def _proto_digest():
    """sha256 of the concatenated .proto files, as generate.sh computes it; None outside a checkout."""
    if not os.path.isdir(_PROTO_DIR):
        return None
    digest = hashlib.sha256()
    for name in sorted(os.listdir(_PROTO_DIR)):
        if name.endswith(".proto"):
            with open(os.path.join(_PROTO_DIR, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


_current = _proto_digest()
if _current is not None and _current != PROTO_SHA256:
    warnings.warn("perennial_client: the generated stubs are older than proto/perennial/v1/*.proto; "
                  "rerun clients/python/generate.sh", stacklevel=2)
