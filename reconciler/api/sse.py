"""The Server-Sent Events wire format, both ways: frames the API writes and a parser the client reads with.

One event is ``id: N`` + one ``data:`` line of JSON (an :class:`EventDoc`, whose ``kind`` says what
happened), ended by a blank line. There is deliberately no ``event:`` field: a browser's
``EventSource.onmessage`` only sees unnamed events, and the kind is in the JSON anyway. Comment lines
(``: keepalive``) keep idle connections open through proxies and let either side notice a dead peer.
Kept apart from the app and the client so both agree by construction.

>>> frame = encode_event(7, '{"id": 7}')
>>> frame
b'id: 7\\ndata: {"id": 7}\\n\\n'
>>> parser = SSEParser()
>>> [(m.id, m.event, m.data) for m in parser.feed_lines(frame.decode().splitlines())]
[('7', 'message', '{"id": 7}')]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["KEEPALIVE", "SSEMessage", "SSEParser", "encode_event", "encode_retry"]

KEEPALIVE = b": keepalive\n\n"


def encode_event(event_id: int, data: str) -> bytes:
    """One SSE frame; ``data`` must be one line (compact JSON is)."""
    if "\n" in data or "\r" in data:
        raise ValueError("SSE data must be a single line")
    return f"id: {event_id}\ndata: {data}\n\n".encode()


def encode_retry(milliseconds: int) -> bytes:
    """Tell clients how long to wait before reconnecting."""
    return f"retry: {int(milliseconds)}\n\n".encode()


@dataclass(frozen=True)
class SSEMessage:
    """One dispatched SSE message; ``id`` is the last event id seen so far (per the SSE spec)."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEParser:
    """Incremental parser of an SSE stream, fed line by line (line endings already removed)."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.retry_ms: int | None = None
        self._data: list[str] = []
        self._event = ""

    def feed(self, line: str) -> SSEMessage | None:
        """Take one line; returns a message when a blank line completes one."""
        if line == "":
            if not self._data:
                self._event = ""
                return None
            message = SSEMessage(data="\n".join(self._data), event=self._event or "message", id=self.last_id)
            self._data, self._event = [], ""
            return message
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def feed_lines(self, lines: Iterable[str]) -> Iterator[SSEMessage]:
        for line in lines:
            message = self.feed(line)
            if message is not None:
                yield message
