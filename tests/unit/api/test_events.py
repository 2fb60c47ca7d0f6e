"""The event stream: replay, then live, no duplicates, gaps read back from the journal, filters, shutdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.api.events import EventFilter, EventStreams
from reconciler.api.sse import KEEPALIVE, SSEParser
from reconciler.engine.clock import SystemClock
from reconciler.engine.journal import Journal
from reconciler.engine.persistence import StateDB
from reconciler.model.api import EventKind

STEP = EventKind.STEP_STARTED


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = StateDB(tmp_path / "state.db")
    yield database
    database.close()


class Reader:
    """Reads SSE frames of one stream into parsed events, a frame at a time."""

    def __init__(self, frames: AsyncIterator[bytes]) -> None:
        self.frames = frames
        self.parser = SSEParser()
        self.raw: list[bytes] = []

    async def frame(self) -> bytes:
        frame = await asyncio.wait_for(anext(self.frames), 5)
        self.raw.append(frame)
        return frame

    async def events(self, count: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while len(found) < count:
            frame = await self.frame()
            for message in self.parser.feed_lines(frame.decode().split("\n")):
                document = json.loads(message.data)
                assert message.id == str(document["id"]) and message.event == "message"
                found.append(document)
        return found


def test_replay_then_live_without_duplicates(db: Any, run: Any) -> None:
    async def scenario() -> None:
        journal = Journal(db, SystemClock())
        for i in range(3):
            journal.emit(STEP, host="n1", message=f"old {i}")
        streams = EventStreams(db, journal)
        reader = Reader(streams.stream(after=1, which=EventFilter()))
        assert (await reader.frame()).startswith(b"retry: ")
        replayed = await reader.events(2)
        assert [e["message"] for e in replayed] == ["old 1", "old 2"]
        journal.emit(STEP, host="n2", message="new")
        live = await reader.events(1)
        assert live[0]["message"] == "new" and live[0]["id"] == 4
        await reader.frames.aclose()  # type: ignore[attr-defined]

    run(scenario())


def test_events_emitted_during_replay_come_once_and_in_order(db: Any, run: Any) -> None:
    async def scenario() -> None:
        journal = Journal(db, SystemClock())
        for i in range(1200):  # more than one page of the journal
            journal.emit(STEP, host=f"n{i % 3}", message=str(i))
        streams = EventStreams(db, journal)
        reader = Reader(streams.stream(after=0, which=EventFilter()))
        await reader.frame()
        first = await reader.events(10)
        for i in range(1200, 1210):  # while the replay is under way: both in the journal and live
            journal.emit(STEP, host="n1", message=str(i))
        rest = await reader.events(1200)
        ids = [e["id"] for e in first + rest]
        assert ids == list(range(1, 1211))
        await reader.frames.aclose()  # type: ignore[attr-defined]

    run(scenario())


def test_a_slow_reader_loses_nothing(db: Any, run: Any) -> None:
    """The journal drops the oldest events of a full subscriber queue; the stream reads them back."""

    async def scenario() -> None:
        journal = Journal(db, SystemClock(), subscriber_buffer=2)
        streams = EventStreams(db, journal)
        reader = Reader(streams.stream(after=0, which=EventFilter(host="n1")))
        await reader.frame()
        journal.emit(STEP, host="n1", message="first")
        assert [e["message"] for e in await reader.events(1)] == ["first"]
        for i in range(20):  # the queue holds 2: 18 of these are dropped from it
            journal.emit(STEP, host="n1" if i % 2 else "n2", message=str(i))
        got = await reader.events(10)
        assert [e["message"] for e in got] == [str(i) for i in range(1, 20, 2)]
        assert {e["host"] for e in got} == {"n1"}
        await reader.frames.aclose()  # type: ignore[attr-defined]

    run(scenario())


def test_filters_by_host_and_kind(db: Any, run: Any) -> None:
    async def scenario() -> None:
        journal = Journal(db, SystemClock())
        journal.emit(STEP, host="n1", message="a")
        journal.emit(EventKind.STEP_SUCCEEDED, host="n1", message="b")
        journal.emit(STEP, host="n2", message="c")
        streams = EventStreams(db, journal)
        reader = Reader(streams.stream(after=0, which=EventFilter(host="n1", kinds={"step_succeeded"})))
        await reader.frame()
        journal.emit(STEP, host="n1", message="d")
        journal.emit(EventKind.STEP_SUCCEEDED, host="n2", message="e")
        journal.emit(EventKind.STEP_SUCCEEDED, host="n1", message="f")
        got = await reader.events(2)
        assert [e["message"] for e in got] == ["b", "f"]
        stored = streams.stored(after=0, limit=10, which=EventFilter(kinds={"step_started"}))
        assert [e.message for e in stored] == ["a", "c", "d"]
        await reader.frames.aclose()  # type: ignore[attr-defined]

    run(scenario())


def test_keepalive_while_idle_and_close_ends_streams(db: Any, run: Any) -> None:
    async def scenario() -> None:
        journal = Journal(db, SystemClock())
        streams = EventStreams(db, journal, keepalive=0.05)
        reader = Reader(streams.stream(after=0, which=EventFilter()))
        await reader.frame()
        assert await reader.frame() == KEEPALIVE
        streams.close()
        with pytest.raises(StopAsyncIteration):
            await reader.frame()
        assert not journal._subscribers  # the live subscription was released
        late = streams.stream(after=0, which=EventFilter())
        assert (await anext(late)).startswith(b"retry: ")
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(late), 5)

    run(scenario())


def test_a_client_leaving_releases_its_subscription(db: Any, run: Any) -> None:
    async def scenario() -> None:
        journal = Journal(db, SystemClock())
        streams = EventStreams(db, journal)
        stream = streams.stream(after=0, which=EventFilter())
        reader = Reader(stream)
        await reader.frame()
        journal.emit(STEP, host="n1")
        await reader.events(1)
        assert len(journal._subscribers) == 1
        await stream.aclose()  # type: ignore[attr-defined]
        assert not journal._subscribers

    run(scenario())


def test_keepalive_must_be_positive(db: Any) -> None:
    with pytest.raises(ValueError, match="keepalive"):
        EventStreams(db, Journal(db, SystemClock()), keepalive=0)
