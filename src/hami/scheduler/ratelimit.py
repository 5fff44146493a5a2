"""Client-side rate limit of apiserver requests: HAMi's ``--kube-qps`` / ``--kube-burst``.

client-go throttles every request of a client with a token bucket (``qps`` tokens per second,
at most ``burst`` saved up). :class:`TokenBucket` is that bucket as a small pure class: the
clock is passed in and :meth:`TokenBucket.reserve` only says how long to wait, so the decision
is testable without sleeping; :meth:`TokenBucket.acquire` does the waiting for async callers.
``qps == 0`` means unlimited (the default: the extender's writes are not throttled). The bucket
is built from the settings and passed to the client that uses it; nothing here is global.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """``qps`` tokens per second, at most ``burst`` banked; ``qps == 0``: never waits.

    ``burst == 0`` with a positive ``qps`` means ``ceil(qps)`` (one second's worth). The bucket
    starts full, as client-go's does. Waiting callers are served in arrival order: each
    :meth:`reserve` takes its token now (possibly going into debt) and is told when it is due.
    """

    def __init__(
        self, qps: float, burst: int = 0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not math.isfinite(qps) or qps < 0:
            raise ValueError(f"kube-qps must be a finite number >= 0, got {qps!r}")
        if burst < 0:
            raise ValueError(f"kube-burst must be >= 0, got {burst!r}")
        self.qps = float(qps)
        self.burst = burst if burst > 0 else max(1, math.ceil(qps))
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return self.qps == 0

    def reserve(self) -> float:
        """Take one token; seconds the caller must wait before sending (0.0 = now)."""
        if self.unlimited:
            return 0.0
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._last)
            self._last = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def try_take(self) -> bool:
        """Take a token only if one is available now (no debt); False otherwise."""
        if self.unlimited:
            return True
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._last)
            self._last = now
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.qps)
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True

    async def acquire(self, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> float:
        """Wait for a token (async); returns the seconds waited."""
        delay = self.reserve()
        if delay > 0:
            await sleep(delay)
        return delay

    def __repr__(self) -> str:
        if self.unlimited:
            return "TokenBucket(unlimited)"
        return f"TokenBucket(qps={self.qps:g}, burst={self.burst})"


def from_settings(qps: float, burst: int) -> TokenBucket | None:
    """The bucket for ``--kube-qps``/``--kube-burst``; None when unlimited (nothing to wire)."""
    bucket = TokenBucket(qps, burst)
    return None if bucket.unlimited else bucket
