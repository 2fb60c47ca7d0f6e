"""The journal is kept within its retention from the engine's start, even with the resync loop switched off."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from reconciler.engine.engine import Engine
from reconciler.engine.executor import AnsibleRunnerExecutor
from reconciler.engine.metrics import EngineMetrics
from reconciler.engine.persistence import StateDB
from reconciler.engine.settings import EngineSettings
from reconciler.graph.checks import load_graph

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "collections"


def test_a_started_engine_prunes_the_journal_without_resync(tmp_path: Path) -> None:
    catalog, graph = load_graph([FIXTURES, Path("collections")])
    db = StateDB(tmp_path / "state.db", max_events=5)
    now = time.time()
    db.append_event(kind="discovered", at=now - 30 * 86400, message="a month old")  # past the 7-day retention
    for i in range(12):
        db.append_event(kind="discovered", at=now, message=f"e{i}")
    executor = AnsibleRunnerExecutor(tmp_path / "work", catalog.collections)
    settings = EngineSettings(resync_interval=0, probe_interval=0)
    engine = Engine(catalog=catalog, graph=graph, executor=executor, db=db, settings=settings,
                    metrics=EngineMetrics(CollectorRegistry()))

    async def scenario() -> list[str]:
        await engine.start()
        await engine.stop()
        return [e.message for e in db.events(limit=100)]

    try:
        kept = asyncio.run(scenario())
    finally:
        db.close()
    assert kept == ["e7", "e8", "e9", "e10", "e11"]  # within retention, and the newest max_events only
