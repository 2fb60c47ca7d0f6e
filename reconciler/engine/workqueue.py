"""A per-host work queue in the manner of controller-runtime's: de-duplicating, never two workers per key.

A key added while queued is not queued twice; a key added while being processed is queued again
once its worker calls :meth:`WorkQueue.done` (events during a step coalesce into one later pass);
``add_after`` schedules a retry without holding a worker. The queue carries only identity: the
reconcile function re-reads the host's current state (level-triggered), so nothing is lost by coalescing.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["WorkQueue"]


class WorkQueue:
    def __init__(self) -> None:
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()  # re-added while processing
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._ready = asyncio.Event()
        self._closed = False
        self.adds = 0  # every add, for the workqueue metrics
        self.retries = 0  # every add_after

    def add(self, key: str) -> None:
        """Queue ``key`` unless it is already queued; if it is being processed, queue it after."""
        if self._closed:
            return
        self.adds += 1
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.append(key)
            self._ready.set()

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` in ``delay`` seconds (an earlier pending retry wins)."""
        if self._closed:
            return
        self.retries += 1
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        when = loop.time() + max(0.0, delay)
        if existing is not None and existing.when() <= when:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)
        self.adds -= 1  # the retry was already counted

    async def get(self) -> str | None:
        """The next key to process (marked as processing), or None once the queue is closed."""
        while not self._queue:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: str) -> None:
        """The worker finished ``key``; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)
            self.adds -= 1

    def close(self) -> None:
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._ready.set()

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def waiting(self) -> int:
        """Keys with a retry scheduled."""
        return len(self._timers)
