"""Retries with exponential backoff for calls the server refuses for now (not for bad input)."""
import dataclasses
import random
import time

import grpc

from . import errors

RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a call again.

    A call failing with UNAVAILABLE or RESOURCE_EXHAUSTED is tried again up to `max_attempts`
    times in all. The wait is the server's `retry-after-ms` hint when it sent one, else
    `initial_backoff_s` doubling per attempt up to `max_backoff_s`; either is stretched by up to
    `jitter` (a fraction) at random so that many clients do not retry in lockstep.
    """
    max_attempts: int = 6          # 1 disables retries
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2
    # Ingest only: resend samples the server REJECTED as retryable (backlog full) after waiting.
    retry_rejected_samples: bool = True

    def delay_s(self, attempt, hint_ms=None):
        """Seconds to wait before attempt number `attempt + 1` (attempt counts from 0)."""
        if hint_ms is not None and hint_ms > 0:
            base = hint_ms / 1000.0
        else:
            base = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** attempt)
        return base * (1.0 + self.jitter * random.random())


NO_RETRY = RetryPolicy(max_attempts=1, retry_rejected_samples=False)


def call(policy, method, invoke, retry_codes=RETRYABLE_CODES, sleep=time.sleep):
    """Runs `invoke()` (one gRPC call), retrying per `policy`; raises a PerennialError.

    `invoke` must build its request afresh on every call (a client-streaming call needs a new
    iterator each time).
    """
    attempt = 0
    while True:
        try:
            return invoke()
        except grpc.RpcError as e:
            error = errors.from_rpc_error(e, method)
            if error.code not in retry_codes or attempt + 1 >= policy.max_attempts:
                if attempt > 0:
                    error.args = ("%s (after %d attempts)" % (error.args[0], attempt + 1),)
                raise error from None
            sleep(policy.delay_s(attempt, error.retry_after_ms))
            attempt += 1
