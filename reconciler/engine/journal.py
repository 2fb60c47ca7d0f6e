"""The event journal: every event is written to the SQLite journal and fanned out to live subscribers.

Subscribers (the SSE endpoint, ``kraken events -f``) each get a bounded queue; a subscriber that falls
behind loses its oldest events rather than slowing the engine (the ids show the gap, and every event is
in the journal to be read back: the API does so).
Logs get one line per event, key=value, with the host and mutation in it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from reconciler.engine.clock import Clock
from reconciler.model.api import EventDoc, EventKind

__all__ = ["EventSink", "Journal", "Subscription"]

log = logging.getLogger("kraken.events")


class EventSink(Protocol):
    """Where events are stored (the SQLite database)."""

    def append_event(self, *, kind: str, at: float, host: str | None = None, mutation: str | None = None,
                     run_id: str | None = None, message: str = "", data: Mapping[str, Any] | None = None) -> int: ...


class Journal:
    def __init__(self, sink: EventSink, clock: Clock, *, subscriber_buffer: int = 1000) -> None:
        self._sink = sink
        self._clock = clock
        self._subscribers: set[asyncio.Queue[EventDoc]] = set()
        self._buffer = subscriber_buffer
        self.counts: dict[str, int] = {}

    def emit(self, kind: EventKind, *, host: str | None = None, mutation: str | None = None,
             run_id: str | None = None, message: str = "", **data: Any) -> EventDoc:
        at = self._clock.time()
        event_id = self._sink.append_event(kind=kind.value, at=at, host=host, mutation=mutation, run_id=run_id,
                                           message=message, data=data)
        event = EventDoc(id=event_id, time=at, kind=kind, host=host, mutation=mutation, run_id=run_id,
                         message=message, data=data)
        self.counts[kind.value] = self.counts.get(kind.value, 0) + 1
        fields = " ".join(f"{k}={v}" for k, v in (("host", host), ("mutation", mutation), ("run", run_id)) if v)
        log.info("event=%s %s %s", kind.value, fields, _quote(message) if message else "")
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()  # drop the oldest: a slow reader must not hold the engine back
            queue.put_nowait(event)
        return event

    def subscribe(self) -> Subscription:
        """Live events from this call on (registered at once, so nothing emitted after it is missed)."""
        return Subscription(self._subscribers, self._buffer)


class Subscription:
    """An async iterator of live events; ``aclose()`` (or ``async with``) unregisters it."""

    def __init__(self, subscribers: set[asyncio.Queue[EventDoc]], buffer: int) -> None:
        self._subscribers = subscribers
        self._queue: asyncio.Queue[EventDoc] = asyncio.Queue(maxsize=buffer)
        subscribers.add(self._queue)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> EventDoc:
        if self._queue not in self._subscribers and self._queue.empty():
            raise StopAsyncIteration
        return await self._queue.get()

    async def aclose(self) -> None:
        self._subscribers.discard(self._queue)

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _quote(text: str) -> str:
    return 'msg="' + text.replace('"', "'").replace("\n", " ") + '"'
