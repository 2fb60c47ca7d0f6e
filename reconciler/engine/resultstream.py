"""The reading end of the ``kraken.core.reconciler`` callback: one private Unix socket per run.

A run's ansible-playbook connects to the socket named in ``KRAKEN_CALLBACK_SOCKET`` and writes JSON lines
(:mod:`reconciler.model.runrecords`) as results arrive; each parsed record is handed to the run's consumer
in the event loop. The socket lives in a fresh 0700 directory (a short path: Unix socket names are
limited to 108 bytes, state directories can be deeper), so only this user can write into the run's
results. Lines that do not parse or belong to another run are dropped and counted, never trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from pydantic import ValidationError

from reconciler.model.runrecords import CallbackRecord, Record, StartRecord

__all__ = ["ResultStream", "open_result_stream"]

log = logging.getLogger(__name__)

_LINE_LIMIT = 1 << 20  # a result line carries a short message and a few values; this is generous
# Once the writer's process is gone, its connection (if it made one) waits in the listen queue: the loop
# accepts it within an iteration or two. Longer than this means there never was one.
_ACCEPT_GRACE = 0.5


class ResultStream:
    """What one run's callback said: records go to ``consume``; counts of what was refused are kept."""

    def __init__(self, run_id: str, path: Path, consume: Callable[[Record], None]) -> None:
        self.run_id = run_id
        self.path = path
        self._consume = consume
        self.started = False  # a start line arrived: the plugin is loaded and connected
        self.dropped = 0
        self._connected = asyncio.Event()
        self._closed = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def environment(self) -> dict[str, str]:
        """What the run's ansible-playbook needs to find this stream."""
        return {"KRAKEN_CALLBACK_SOCKET": str(self.path), "KRAKEN_RUN_ID": self.run_id}

    async def drained(self, timeout: float) -> bool:
        """After the writer's process ended: wait (at most ``timeout``) until its lines are all read.

        False if it never connected or did not close its end in time.
        """
        try:
            await asyncio.wait_for(self._connected.wait(), _ACCEPT_GRACE)
            await asyncio.wait_for(self._closed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Hang up on writers still connected (a run that was killed may leave one behind)."""
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self._connected.set()
        try:
            while line := await reader.readline():
                self._accept(line)
        except (ValueError, ConnectionError) as exc:  # ValueError: a line over the limit
            self.dropped += 1
            log.warning("run=%s result stream broken: %s", self.run_id, exc)
        finally:
            self._writers.discard(writer)
            writer.close()
            self._closed.set()

    def _accept(self, line: bytes) -> None:
        try:
            record = CallbackRecord.model_validate_json(line).root
        except ValidationError as exc:
            self.dropped += 1
            log.warning("run=%s dropped a result line that does not parse: %s", self.run_id,
                        exc.errors(include_url=False)[0]["msg"])
            return
        if record.run != self.run_id:
            self.dropped += 1
            log.warning("run=%s dropped a result line of run %r", self.run_id, record.run)
            return
        if isinstance(record, StartRecord):
            self.started = True
        self._consume(record)


@contextlib.asynccontextmanager
async def open_result_stream(run_id: str, consume: Callable[[Record], None]) -> AsyncIterator[ResultStream]:
    """Listen for one run's callback for the duration of the block; the socket is removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="kraken-run-"))  # mkdtemp makes it 0700
    stream = ResultStream(run_id, folder / "results.sock", consume)
    server = await asyncio.start_unix_server(stream._serve, path=str(stream.path), limit=_LINE_LIMIT)
    try:
        yield stream
    finally:
        server.close()
        stream.close()
        await server.wait_closed()
        shutil.rmtree(folder, ignore_errors=True)
