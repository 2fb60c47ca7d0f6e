"""Fixtures of the API integration tests: a real engine, the real server on a loopback port, real clients.

ansible-runner runs the acme.lab lamp roles (tests/fixtures/collections) for the tests that converge
hosts; the others freeze everything first so nothing runs. Every scenario runs in its own event loop,
bounded in time, and stops the server, the engine and the database on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from prometheus_client import CollectorRegistry

from reconciler.api.app import create_app
from reconciler.api.client import ApiClient
from reconciler.api.server import ApiServer, serve_api
from reconciler.engine.engine import Engine
from reconciler.engine.executor import AnsibleRunnerExecutor
from reconciler.engine.metrics import EngineMetrics
from reconciler.engine.persistence import StateDB
from reconciler.engine.settings import EngineSettings
from reconciler.graph.checks import load_graph
from reconciler.inventory.desired import InventoryState, load_inventory
from reconciler.model.api import EventDoc
from reconciler.model.catalog import Catalog

REPO = Path(__file__).resolve().parents[3]
COLLECTIONS = [REPO / "tests" / "fixtures" / "collections", REPO / "collections"]
TOKEN = "integration-token-0123456789abcdef"

T = TypeVar("T")


@dataclass
class Desired:
    generation: int
    state: InventoryState
    commit: str | None = None
    dirty: bool | None = None
    loaded_at: float = 0.0


@pytest.fixture(scope="session")
def catalog_graph() -> tuple[Catalog, Any]:
    return load_graph(COLLECTIONS)


class Lab:
    """Lamps that are files, an inventory that wants them LIT, and a real engine behind a real server."""

    def __init__(self, root: Path, catalog_graph: tuple[Catalog, Any], hosts: list[str]) -> None:
        self.root = root
        self.catalog, self.graph = catalog_graph
        self.devices = root / "devices"
        self.devices.mkdir()
        inventory = root / "inventory"
        inventory.mkdir()
        document = {"all": {"hosts": {h: {} for h in hosts},
                            "vars": {"lab_dir": str(self.devices), "kraken_lamp": "LIT"}}}
        (inventory / "hosts.yml").write_text(yaml.safe_dump(document))
        self.inventory = load_inventory(inventory, self.catalog)
        self.db = StateDB(root / "state.db")
        settings = EngineSettings.model_validate({"batch_window": 0.05, "resync_interval": 0, "start_rate": 0})
        self.engine = Engine(catalog=self.catalog, graph=self.graph,
                             executor=AnsibleRunnerExecutor(root / "work", self.catalog.collections), db=self.db,
                             settings=settings, metrics=EngineMetrics(CollectorRegistry()))
        self.started = False

    def load(self, generation: int = 1) -> None:
        self.engine.apply_desired(Desired(generation, self.inventory, commit="feedface", dirty=False,
                                          loaded_at=time.time()))

    def lamp(self, host: str) -> str:
        path = self.devices / f"{host}.lamp"
        return path.read_text().strip() if path.exists() else ""

    @contextlib.asynccontextmanager
    async def serving(self, *, token: str | None = TOKEN, frozen: bool = True, port: int = 0,
                      host: str = "127.0.0.1") -> AsyncIterator[ApiServer]:
        """The engine (started once) behind a server on a loopback port; the server is stopped on exit."""
        if not self.started:
            self.started = True
            await self.engine.start()
            if frozen:
                self.engine.freeze(None)
        server = await serve_api(create_app(self.engine, token=token, sse_keepalive=1.0), host, port)
        try:
            yield server
        finally:
            await server.stop()

    async def close(self) -> None:
        if self.started:
            await self.engine.stop()
        self.db.close()


@pytest.fixture
def lab_factory(tmp_path: Path, catalog_graph: tuple[Catalog, Any]) -> Callable[[list[str]], Lab]:
    return lambda hosts: Lab(tmp_path, catalog_graph, hosts)


@pytest.fixture
def run() -> Callable[..., Any]:
    """Run one scenario in its own event loop, bounded in time."""

    def runner(coro: Coroutine[Any, Any, T], *, bound: float = 60.0) -> T:
        return asyncio.run(asyncio.wait_for(coro, bound))

    return runner


class _Stopped(Exception):
    """Ends a follower between two reconnects."""


class Follower:
    """``ApiClient.follow_events`` in a thread (the client is synchronous), handing events to the test.

    The thread ends when the stream cannot be re-established (``max_reconnects`` exhausted), or after
    :meth:`stop`, at the next event or the next pause between reconnects (the client's ``sleep`` seam).
    """

    def __init__(self, url: str, *, after: int = 0, host: str | None = None, max_reconnects: int = 0) -> None:
        self.events: queue.Queue[EventDoc] = queue.Queue()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._client = ApiClient(url, timeout=5, reconnect_delay=0.05, max_reconnects=max_reconnects,
                                 sleep=self._pause)
        self._after, self._host = after, host
        self.thread = threading.Thread(target=self._run, name="follower", daemon=True)
        self.thread.start()

    def _pause(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopped

    def _run(self) -> None:
        try:
            for event in self._client.follow_events(after=self._after, host=self._host):
                self.events.put(event)
                if self._stop.is_set():
                    return
        except _Stopped:
            pass
        except BaseException as exc:  # reported to the test through .error
            self.error = exc
        finally:
            self._client.close()

    async def take(self, until: Callable[[list[EventDoc]], bool], *, timeout: float) -> list[EventDoc]:
        """Events received until ``until(all of them so far)`` holds."""
        got: list[EventDoc] = []
        deadline = time.monotonic() + timeout
        while not until(got):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; events so far: {[(e.id, e.kind.value, e.host) for e in got]}"
                                     f"; follower error: {self.error!r}")
            try:
                got.append(await asyncio.to_thread(self.events.get, True, min(remaining, 0.5)))
            except queue.Empty:
                continue
        return got

    def stop(self) -> None:
        self._stop.set()

    async def join(self, timeout: float = 15.0) -> None:
        await asyncio.to_thread(self.thread.join, timeout)
        assert not self.thread.is_alive(), "the follower did not end"


@pytest.fixture
def follower() -> Callable[..., Follower]:
    return Follower
