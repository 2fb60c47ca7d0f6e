"""The event stream of ``GET /api/v1/events``: a replay from the journal, then live events, without gaps.

A client says where it stopped (``Last-Event-ID`` or ``?after=``); the stream first replays the stored
journal after that id, then follows the engine's live fan-out. The two overlap on purpose — the live
subscription is opened *before* the replay — and every event id at or below the stream's cursor is
skipped, so nothing is sent twice. When a live event arrives with an id past ``cursor + 1`` (a
subscriber that fell behind and was dropped events, or events emitted while the subscription was
being set up), the missing ids are read back from the journal first, so nothing is lost either.

Streams send a comment every ``keepalive`` seconds while idle, and all of them end when the server
stops (:meth:`EventStreams.close`), so a shutdown never waits on an open ``kraken events -f``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection, Iterator
from typing import Any, Protocol

from reconciler.api.sse import KEEPALIVE, encode_event, encode_retry
from reconciler.model.api import EventDoc

__all__ = ["EventFilter", "EventSource", "EventStreams", "LiveEvents"]

_PAGE = 500  # events read from the journal at a time


class EventSource(Protocol):
    """The stored journal (``reconciler.engine.persistence.StateDB`` satisfies it)."""

    def events(self, *, after_id: int = 0, limit: int = 1000, host: str | None = None,
               kinds: Collection[str] | None = None) -> list[EventDoc]: ...

    def last_event_id(self) -> int: ...


class LiveEvents(Protocol):
    """The live fan-out (``reconciler.engine.journal.Journal`` satisfies it)."""

    def subscribe(self) -> AsyncIterator[EventDoc]: ...


class EventFilter:
    """Which events a stream wants: one host, some kinds, or everything."""

    def __init__(self, *, host: str | None = None, kinds: Collection[str] | None = None) -> None:
        self.host = host
        self.kinds = frozenset(kinds) if kinds else None

    def matches(self, event: EventDoc) -> bool:
        return (self.host is None or event.host == self.host) and (
            self.kinds is None or event.kind.value in self.kinds)


class EventStreams:
    """The SSE streams of one app, built on the journal's store and live fan-out."""

    def __init__(self, store: EventSource, live: LiveEvents, *, keepalive: float = 15.0,
                 retry_ms: int = 2000) -> None:
        if keepalive <= 0:
            raise ValueError("keepalive must be positive")
        self._store = store
        self._live = live
        self._keepalive = keepalive
        self._retry_ms = retry_ms
        self._closed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """End every open stream (the server is stopping); new streams end at once."""
        self._closed.set()

    def stored(self, *, after: int, limit: int, which: EventFilter) -> list[EventDoc]:
        """Stored events after ``after``, oldest first, at most ``limit``."""
        return self._store.events(after_id=after, limit=limit, host=which.host, kinds=which.kinds)

    async def stream(self, *, after: int, which: EventFilter) -> AsyncIterator[bytes]:
        """SSE frames: the journal after ``after``, then live events, until the client or the server leaves."""
        yield encode_retry(self._retry_ms)
        subscription = self._live.subscribe()
        upcoming: asyncio.Future[EventDoc] = asyncio.ensure_future(anext(subscription))
        closing: asyncio.Future[Any] = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.sleep(0)  # let the subscription register; a miss is caught by the gap check below
            cursor = after
            for event, high in self._read(after=after, before=None, which=which):
                if event is not None:
                    yield _frame(event)
                    cursor = max(cursor, event.id)
                else:
                    cursor = max(cursor, high)
            while not self._closed.is_set():
                waiting: set[asyncio.Future[Any]] = {upcoming, closing}
                done, _ = await asyncio.wait(waiting, timeout=self._keepalive,
                                             return_when=asyncio.FIRST_COMPLETED)
                if closing in done:
                    break
                if not done:
                    yield KEEPALIVE
                    continue
                event = upcoming.result()
                upcoming = asyncio.ensure_future(anext(subscription))
                if event.id <= cursor:
                    continue  # already replayed
                if event.id > cursor + 1:  # missed some: read them back from the journal
                    for missed, _ in self._read(after=cursor, before=event.id, which=which):
                        if missed is not None:
                            yield _frame(missed)
                cursor = event.id
                if which.matches(event):
                    yield _frame(event)
        finally:
            for task in (upcoming, closing):
                task.cancel()
            await asyncio.gather(upcoming, closing, return_exceptions=True)
            aclose = getattr(subscription, "aclose", None)  # an async generator: run its clean-up now
            if aclose is not None:
                with contextlib.suppress(RuntimeError):
                    await aclose()

    def _read(self, *, after: int, before: int | None,
              which: EventFilter) -> Iterator[tuple[EventDoc | None, int]]:
        """Stored matching events in (after, before), page by page.

        Yields ``(event, 0)`` for each, and a final ``(None, high)`` where ``high`` is the journal's
        newest id at the moment the last page was read (read together, with no await in between, so
        every matching event up to ``high`` has been yielded).
        """
        cursor = after
        while True:
            page = self._store.events(after_id=cursor, limit=_PAGE, host=which.host, kinds=which.kinds)
            high = self._store.last_event_id()
            for event in page:
                if before is not None and event.id >= before:
                    return
                yield event, 0
                cursor = event.id
            if len(page) < _PAGE:
                yield None, high if before is None else 0
                return


def _frame(event: EventDoc) -> bytes:
    return encode_event(event.id, event.model_dump_json())
