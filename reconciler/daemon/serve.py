"""``kraken serve``: the reconciler process.

Start-up order matters to an operator: the catalog and graph are validated first (a broken collection
stops the service with the problems listed, exit code 2), then the database is opened (resume), the API
starts (``/healthz`` answers, ``/readyz`` says "not yet"), and the inventory is loaded and watched. READY=1
goes to systemd only when the first valid desired state is in force. SIGTERM/SIGINT stop cleanly (runs in
flight are cancelled; their hosts replan on the next start), SIGHUP forces an inventory reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from prometheus_client import CollectorRegistry

from reconciler.api.app import create_app
from reconciler.api.auth import read_token_file
from reconciler.api.server import serve_api
from reconciler.daemon.heartbeats import start_heartbeats
from reconciler.daemon.listen import split_listen
from reconciler.daemon.notify import notify
from reconciler.engine.engine import Engine
from reconciler.engine.executor import AnsibleRunnerExecutor
from reconciler.engine.metrics import EngineMetrics
from reconciler.engine.persistence import StateDB
from reconciler.engine.settings import Settings
from reconciler.errors import UserError
from reconciler.graph.checks import load_graph
from reconciler.inventory.source import DesiredGeneration, DesiredSource

__all__ = ["run_serve"]

log = logging.getLogger("kraken.serve")


async def run_serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run the reconciler until ``stop`` is set or SIGTERM/SIGINT arrives."""
    if settings.inventory is None:
        raise UserError("no inventory: pass -i INVENTORY or set `inventory:` in the config file")
    if not settings.inventory.exists():
        raise UserError(f"{settings.inventory}: the inventory does not exist")
    catalog, graph = load_graph(settings.collections or None)
    state_dir = settings.state_dir
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    host, port = split_listen(settings.api.listen, flag="--listen", example="127.0.0.1:3141")
    token = read_token_file(settings.api.token_file) if settings.api.token_file else None
    if token is None:
        log.warning("event=no_token msg=\"no --token-file: write endpoints (freeze/thaw) are refused\"")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    reload_requested = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGHUP, reload_requested.set)

    db = StateDB(state_dir / "state.db")
    engine_settings = settings.engine
    executor = AnsibleRunnerExecutor(state_dir / "work", catalog.collections,
                                     max_concurrent=engine_settings.max_concurrent_runs,
                                     keep_runs=engine_settings.keep_runs)
    engine = Engine(catalog=catalog, graph=graph, executor=executor, db=db, settings=engine_settings,
                    metrics=EngineMetrics(CollectorRegistry()))
    await engine.start()
    heartbeats = None
    api = await serve_api(create_app(engine, token=token), host, port, allow_remote=settings.api.allow_remote)
    log.info("event=started api=http://%s:%d inventory=%s mutations=%d", host, port, settings.inventory,
             len(catalog.mutations))
    try:
        heartbeats = await start_heartbeats(settings.sync, engine)
        last = db.last_generation()
        async with DesiredSource(settings.inventory, catalog, debounce=settings.debounce,
                                 follow_branch=settings.follow_branch, state_dir=state_dir,
                                 first_generation=last.generation + 1 if last else 1) as source:
            consumer = asyncio.create_task(_consume(source, engine))
            reloader = asyncio.create_task(_reload_on(reload_requested, source))
            await stop.wait()
            for task in (consumer, reloader):
                task.cancel()
            await asyncio.gather(consumer, reloader, return_exceptions=True)
    finally:
        notify("STOPPING=1")
        if heartbeats is not None:
            heartbeats.close()
        await engine.stop()
        await api.stop()
        db.close()
        log.info("event=stopped")


async def _consume(source: DesiredSource, engine: Engine) -> None:
    ready = False
    async for update in source.updates():
        if isinstance(update, DesiredGeneration):
            engine.apply_desired(update)
            status = f"generation {update.generation}, {len(update.state.hosts)} hosts, commit {update.commit or '-'}"
            notify(("READY=1\n" if not ready else "") + f"STATUS={status}")
            ready = True
        else:
            engine.reject_desired(update.problems, commit=update.commit)
            notify(f"STATUS=inventory edit rejected ({len(update.problems)} problems); last good state in force")


async def _reload_on(requested: asyncio.Event, source: DesiredSource) -> None:
    while True:
        await requested.wait()
        requested.clear()
        await source.reload()
