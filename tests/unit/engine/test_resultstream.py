"""The result stream's reading end: lines of the run are consumed, anything else is dropped and counted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import stat
from typing import Any

from reconciler.engine.resultstream import open_result_stream
from reconciler.model.runrecords import Record, ResultRecord, StartRecord, StatsRecord


async def _write(path: str, lines: list[bytes]) -> None:
    _reader, writer = await asyncio.open_unix_connection(path)
    with contextlib.suppress(ConnectionError):  # the reader hangs up on a stream it refuses
        for line in lines:
            writer.write(line)
        await writer.drain()
        writer.close()
        await writer.wait_closed()


def _line(**record: Any) -> bytes:
    return json.dumps(record).encode() + b"\n"


def test_records_of_the_run_are_consumed_in_order_and_strangers_dropped() -> None:
    got: list[Record] = []

    async def scenario() -> tuple[int, bool, bool]:
        async with open_result_stream("r-1", got.append) as stream:
            mode = stat.S_IMODE(stream.path.parent.stat().st_mode)
            assert mode == 0o700, oct(mode)  # only this user can speak for a run
            await _write(str(stream.path), [
                _line(kind="start", run="r-1", playbook="p.yml"),
                b"this is not json\n",
                _line(kind="result", run="r-2", host="n1", status="ok"),  # another run's line
                _line(kind="result", run="r-1", host="n1", status="launched"),  # not a status
                _line(kind="result", run="r-1", host="n1", status="ok", discovered={"power": "POWER_ON"}),
                _line(kind="stats", run="r-1", hosts={"n1": {"ok": 2}}, future_field=1),
            ])
            drained = await stream.drained(5)
            return stream.dropped, stream.started, drained

    dropped, started, drained = asyncio.run(scenario())
    assert (dropped, started, drained) == (3, True, True)
    assert [type(r) for r in got] == [StartRecord, ResultRecord, StatsRecord]
    result = got[1]
    assert isinstance(result, ResultRecord) and result.discovered == {"power": "POWER_ON"}


def test_the_socket_is_gone_after_the_run_and_a_silent_run_is_not_drained() -> None:
    async def scenario() -> tuple[bool, bool]:
        async with open_result_stream("r-1", lambda _record: None) as stream:
            drained = await stream.drained(0.05)  # nobody ever connected
            path = stream.path
        return drained, path.parent.exists()

    drained, folder_left = asyncio.run(scenario())
    assert not drained and not folder_left


def test_a_line_over_the_limit_breaks_only_that_stream() -> None:
    got: list[Record] = []

    async def scenario() -> int:
        async with open_result_stream("r-1", got.append) as stream:
            await _write(str(stream.path), [_line(kind="start", run="r-1"), b"x" * (2 << 20) + b"\n"])
            await stream.drained(5)
            return stream.dropped

    assert asyncio.run(scenario()) == 1
    assert [type(r) for r in got] == [StartRecord]
