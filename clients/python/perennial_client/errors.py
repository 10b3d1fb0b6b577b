"""Exceptions raised by perennial_client: one class per gRPC status code that callers act on.

Every exception carries the gRPC `code`, the server's message (`details`, which names the bad
field) and, for backpressure, the server's `retry_after_ms` hint.
"""
import grpc


class PerennialError(Exception):
    """A call to perennial-server failed. Base class of every error raised by this package."""

    def __init__(self, message, code=None, details="", retry_after_ms=None):
        super().__init__(message)
        self.code = code
        self.details = details
        self.retry_after_ms = retry_after_ms


class InvalidArgumentError(PerennialError):
    """The request is malformed (bad image, empty label, too many labels, ...); do not retry."""


class NotFoundError(PerennialError):
    """A named thing does not exist: label set, checkpoint version."""


class UnavailableError(PerennialError):
    """The server cannot be reached or is not serving yet (still loading its model)."""


class ResourceExhaustedError(PerennialError):
    """Backpressure: the learner's backlog is full. `retry_after_ms` says when to try again."""


class DeadlineExceededError(PerennialError):
    """The call's deadline passed (or `min_version` was not reached within it)."""


class FailedPreconditionError(PerennialError):
    """The server is in a state that refuses the call (e.g. a rollback while one is running)."""


class UnauthenticatedError(PerennialError):
    """The server requires a bearer token (Client(token=...)) and the call had none or a wrong one."""


class DataLossError(PerennialError):
    """Stored data failed its integrity check (a corrupt checkpoint)."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.DATA_LOSS: DataLossError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
}


def retry_after_ms(rpc_error):
    """The `retry-after-ms` trailing metadata of a failed call, as an int, or None."""
    try:
        trailers = rpc_error.trailing_metadata() or ()
    except Exception:  # some RpcErrors (e.g. from interceptors) carry no call
        return None
    for key, value in trailers:
        if key == "retry-after-ms":
            try:
                return max(0, int(value))
            except (TypeError, ValueError):
                return None
    return None


def from_rpc_error(rpc_error, method):
    """Converts a grpc.RpcError into the matching PerennialError subclass."""
    code = rpc_error.code() if hasattr(rpc_error, "code") else None
    details = rpc_error.details() if hasattr(rpc_error, "details") else str(rpc_error)
    cls = _BY_CODE.get(code, PerennialError)
    name = code.name if code is not None else "UNKNOWN"
    return cls("%s failed: %s: %s" % (method, name, details), code=code, details=details or "",
               retry_after_ms=retry_after_ms(rpc_error))
