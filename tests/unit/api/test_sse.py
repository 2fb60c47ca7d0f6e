"""The SSE wire format: what the API writes, the client parses back."""

from __future__ import annotations

import pytest

from reconciler.api.sse import KEEPALIVE, SSEParser, encode_event, encode_retry


def test_round_trip() -> None:
    stream = encode_retry(1500) + encode_event(1, '{"x": 1}') + KEEPALIVE + encode_event(2, "{}")
    parser = SSEParser()
    messages = list(parser.feed_lines(stream.decode().split("\n")))
    assert [(m.id, m.event, m.data) for m in messages] == [("1", "message", '{"x": 1}'), ("2", "message", "{}")]
    assert parser.retry_ms == 1500 and parser.last_id == "2"


def test_parser_follows_the_spec() -> None:
    parser = SSEParser()
    lines = ["data: one", "data:two", "", ": comment", "", "id: 9", "event: e", "", "data: x", "", "bogus", ""]
    messages = list(parser.feed_lines(lines))
    assert [(m.data, m.event, m.id) for m in messages] == [("one\ntwo", "message", None), ("x", "message", "9")]


def test_data_must_be_one_line() -> None:
    with pytest.raises(ValueError, match="single line"):
        encode_event(1, "x\ny")
