"""Time as the engine sees it: a seam so behaviour tests can drive timeouts and backoff without waiting."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    def monotonic(self) -> float: ...  # for deadlines, backoff and rate limits
    def time(self) -> float: ...  # wall time, for the journal and the API


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()
