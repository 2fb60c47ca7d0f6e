"""Fixtures of the API unit tests: a real engine on the acme.lab fixture collection, never running a step.

Each test builds a fresh engine and database; the catalog, graph and inventory (ansible-core work)
are loaded once. Tests freeze everything before desired state arrives, and a dispatched step would wait
an hour for batch-mates, so no ansible-runner run ever starts; they talk to the app in-process through
httpx's ASGI transport.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from reconciler.api.app import create_app
from reconciler.engine.engine import Engine
from reconciler.engine.executor import AnsibleRunnerExecutor
from reconciler.engine.metrics import EngineMetrics
from reconciler.engine.persistence import StateDB
from reconciler.engine.settings import EngineSettings
from reconciler.graph.checks import load_graph
from reconciler.inventory.desired import InventoryState, load_inventory
from reconciler.model.catalog import Catalog

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "collections"
TOKEN = "unit-test-token-0123456789"
BOUND = 30.0  # seconds any one scenario may take

T = TypeVar("T")


@dataclass
class Desired:
    """A generation of desired state, as the engine takes it."""

    generation: int
    state: InventoryState
    commit: str | None = "0123abc"
    dirty: bool | None = False
    loaded_at: float = 0.0


@pytest.fixture(scope="session")
def catalog_graph() -> tuple[Catalog, Any]:
    return load_graph([FIXTURES])


@pytest.fixture(scope="session")
def inventory(tmp_path_factory: pytest.TempPathFactory, catalog_graph: tuple[Catalog, Any]) -> InventoryState:
    root = tmp_path_factory.mktemp("inventory")
    hosts = {"n1": {"kraken_lamp": "LIT"}, "n2": {"kraken_lamp": "LIT"}, "n3": {}}
    (root / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts, "vars": {"lab_dir": str(root)}}}))
    return load_inventory(root, catalog_graph[0])


class Harness:
    """One engine and its app; ``start`` freezes everything first, so nothing ever runs."""

    def __init__(self, root: Path, catalog_graph: tuple[Catalog, Any], inventory: InventoryState) -> None:
        catalog, graph = catalog_graph
        self.inventory = inventory
        self.db = StateDB(root / "state.db")
        settings = EngineSettings(resync_interval=0, batch_window=3600)
        executor = AnsibleRunnerExecutor(root / "work", catalog.collections)
        self.engine = Engine(catalog=catalog, graph=graph, executor=executor, db=self.db, settings=settings,
                             metrics=EngineMetrics(CollectorRegistry()))

    def app(self, token: str | None = TOKEN, **options: Any) -> Any:
        return create_app(self.engine, token=token, **options)

    def client(self, app: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kraken.test")

    async def start(self, *, load: bool = True) -> None:
        await self.engine.start()
        self.engine.freeze(None)
        if load:
            self.load(1)
            await until(lambda: {n.name for n in self.engine.nodes() if n.status.value == "frozen"}
                        == {"n1", "n2", "n3"}, what="every host frozen")

    def load(self, generation: int) -> None:
        """Put the inventory in force as ``generation`` of desired state."""
        self.engine.apply_desired(Desired(generation, self.inventory, loaded_at=time.time()))

    async def stop(self) -> None:
        await self.engine.stop()


@pytest.fixture
def harness(tmp_path: Path, catalog_graph: tuple[Catalog, Any], inventory: InventoryState) -> Any:
    lab = Harness(tmp_path, catalog_graph, inventory)
    yield lab
    lab.db.close()


@pytest.fixture
def run() -> Callable[[Coroutine[Any, Any, T]], T]:
    """Run one scenario in its own event loop, bounded in time."""

    def runner(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run(asyncio.wait_for(coro, BOUND))

    return runner


async def until(condition: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
    """Wait for ``condition()`` to hold (checked on every loop turn, at most every 10 ms)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return value


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[Any]]:
    return until
