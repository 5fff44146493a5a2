"""Fault injection for the stand-in: fail the next N matching requests, delay matching ones.

Rules match a method (``"*"`` for any) and a regular expression searched in the URL path.
Thread-safe: tests arm faults from their own thread while the server loop consumes them.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from .errors import ApiError, generic


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    remaining: int
    message: str | None


@dataclass
class _Delay:
    method: str
    pattern: re.Pattern[str]
    seconds: float


def _method_matches(rule: str, method: str) -> bool:
    return rule == "*" or rule.upper() == method.upper()


class Faults:
    """The armed faults of one server; survives restarts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._delays: list[_Delay] = []
        self.hits: list[tuple[str, str, int]] = []

    def fail_next(
        self, method: str, path_regex: str, status: int, count: int = 1, message: str | None = None
    ) -> None:
        """Answer the next ``count`` matching requests with a Status of code ``status``."""
        with self._lock:
            self._failures.append(_Failure(method, re.compile(path_regex), status, count, message))

    def delay(self, path_regex: str, seconds: float, method: str = "*") -> None:
        """Hold every matching request ``seconds`` before handling it (until ``clear``)."""
        with self._lock:
            self._delays.append(_Delay(method, re.compile(path_regex), seconds))

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._delays.clear()

    def check(self, method: str, path: str) -> tuple[float, ApiError | None]:
        """Seconds to wait and the failure to answer with (if any) for this request."""
        with self._lock:
            wait = sum(
                d.seconds
                for d in self._delays
                if _method_matches(d.method, method) and d.pattern.search(path)
            )
            for failure in self._failures:
                if _method_matches(failure.method, method) and failure.pattern.search(path):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    self.hits.append((method, path, failure.status))
                    return wait, generic(failure.status, failure.message)
            return wait, None
