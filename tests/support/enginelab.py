"""A lab for engine tests: a git-tracked inventory, lamps and stages that are files, a real engine.

Everything is real: ansible-runner runs the acme.lab roles (tests/fixtures/collections), the inventory
is watched and reloaded by :class:`DesiredSource`, state lives in SQLite. Only time is shortened
(backoff, batching, debounce) so scenarios finish in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from reconciler.engine.engine import Engine
from reconciler.engine.executor import AnsibleRunnerExecutor
from reconciler.engine.metrics import EngineMetrics
from reconciler.engine.persistence import StateDB
from reconciler.engine.settings import EngineSettings
from reconciler.inventory.source import DesiredGeneration, DesiredSource

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = [REPO / "tests" / "fixtures" / "collections", REPO / "collections"]


class Lab:
    """An inventory in a git repository plus the folder where the lab's devices keep their state."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.inventory = root / "inventory"
        self.devices = root / "devices"
        self.state_dir = root / "state"
        self.devices.mkdir(parents=True)
        (self.inventory / "group_vars").mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "safe.directory=*", *args],
                              cwd=self.inventory, check=True, capture_output=True, text=True, timeout=30).stdout

    def write(self, hosts: dict[str, dict[str, Any]], group_vars: dict[str, Any], *, commit: str | None = "edit",
              raw_group_vars: str | None = None) -> None:
        (self.inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts or {}}}))
        text = raw_group_vars if raw_group_vars is not None else yaml.safe_dump(
            {"lab_dir": str(self.devices), **group_vars})
        (self.inventory / "group_vars" / "all.yml").write_text(text)
        if commit:
            self.git("add", "-A")
            self.git("commit", "-q", "-m", commit)

    def device(self, host: str, kind: str = "lamp") -> str:
        path = self.devices / f"{host}.{kind}"
        return path.read_text().strip() if path.exists() else ""

    def count(self, host: str, name: str) -> int:
        path = self.devices / f"{host}.{name}"
        return len(path.read_text().splitlines()) if path.exists() else 0


def fast_settings(**overrides: Any) -> EngineSettings:
    base: dict[str, Any] = {"batch_window": 0.05, "resync_interval": 0, "start_rate": 0, "timeout_grace": 2,
                            "backoff": {"base": 0.5, "factor": 2.0, "cap": 4.0, "jitter": 0.0, "max_attempts": 5}}
    base.update(overrides)
    return EngineSettings.model_validate(base)


@contextlib.asynccontextmanager
async def running(lab: Lab, catalog_graph: Any, settings: EngineSettings | None = None) -> AsyncIterator[Engine]:
    """An engine fed by a DesiredSource on the lab's inventory, stopped cleanly afterwards."""
    catalog, graph = catalog_graph
    db = StateDB(lab.state_dir / "state.db")
    executor = AnsibleRunnerExecutor(lab.state_dir / "work", catalog.collections, max_concurrent=4)
    engine = Engine(catalog=catalog, graph=graph, executor=executor, db=db, settings=settings or fast_settings(),
                    metrics=EngineMetrics(CollectorRegistry()))
    await engine.start()
    async with DesiredSource(lab.inventory, catalog, debounce=0.1) as source:

        async def feed() -> None:
            async for update in source.updates():
                if isinstance(update, DesiredGeneration):
                    engine.apply_desired(update)
                else:
                    engine.reject_desired(update.problems, commit=update.commit)

        feeder = asyncio.create_task(feed())
        try:
            yield engine
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
            await engine.stop()
            db.close()


async def wait_for(condition: Callable[[], Any], *, timeout: float = 180.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy (returning its value); fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def statuses(engine: Engine) -> dict[str, str]:
    return {node.name: node.status.value for node in engine.nodes()}


def events(engine: Engine, kind: str | None = None, host: str | None = None) -> list[Any]:
    return [e for e in engine.db.events(limit=100_000, host=host) if kind is None or e.kind.value == kind]
