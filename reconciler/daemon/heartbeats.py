"""Wiring of the heartbeat endpoint to the engine, for ``kraken serve`` (DESIGN §5).

The endpoint (:mod:`reconciler.sync.endpoint`) knows datagrams and neighbours; the engine knows hosts. Here:
a node with ``kraken_agent: true`` has a key (derived from the secret, kept in memory), hears its desired
state, and what its agent reports is discovered state; an agent that goes silent for ``dead`` seconds puts
its node in ``runstate: ERROR`` (Kraken's dead-neighbour rule), from where ``kraken.core.runstate:recover``
brings it back.
"""

from __future__ import annotations

import logging

from reconciler.daemon.listen import split_listen
from reconciler.engine.engine import Engine, HostRecord
from reconciler.engine.settings import SyncSettings
from reconciler.errors import UserError
from reconciler.model.heartbeat import ChildHeartbeat, ParentHeartbeat
from reconciler.sync.endpoint import ParentEndpoint, start_parent_endpoint
from reconciler.sync.keys import derive_node_key, read_secret

__all__ = ["start_heartbeats"]

log = logging.getLogger("kraken.serve")

_DEAD = {"runstate": "ERROR"}


async def start_heartbeats(settings: SyncSettings, engine: Engine) -> ParentEndpoint | None:
    """Listen for agents if a secret is configured (None otherwise: no node can be heard without keys)."""
    if settings.secret_file is None:
        log.warning("event=no_secret msg=\"no --secret-file: heartbeats are off; nodes with kraken_agent: true "
                    "are not heard\"")
        return None
    if settings.dead <= settings.hello:
        raise UserError(f"--dead {settings.dead:g} must be longer than --hello {settings.hello:g} "
                        "(Kraken uses 4 hellos: 10 s / 40 s)")
    secret = read_secret(settings.secret_file)
    keys: dict[str, bytes] = {}

    def agent(node: str) -> HostRecord | None:
        record = engine.hosts.get(node)
        return record if record is not None and not record.agentless else None

    def key_of(node: str) -> bytes | None:
        if agent(node) is None:
            return None
        if node not in keys:
            keys[node] = derive_node_key(secret, node)
        return keys[node]

    def desired_of(node: str) -> ParentHeartbeat | None:
        record = agent(node)
        if record is None:
            return None
        generation = engine.generation.generation if engine.generation else 0
        return ParentHeartbeat(hello=settings.hello, dead=settings.dead, generation=generation,
                               desired=dict(record.desired), config=dict(record.config))

    def on_heartbeat(node: str, heartbeat: ChildHeartbeat) -> None:
        engine.observe(node, heartbeat.discovered, source="heartbeat")

    def on_dead(node: str) -> None:
        engine.observe(node, _DEAD, source=f"heartbeat: silent for more than {settings.dead:g}s")

    host, port = split_listen(settings.listen, flag="--sync-listen", example="0.0.0.0:31415")
    endpoint = ParentEndpoint(key_of=key_of, desired_of=desired_of, on_heartbeat=on_heartbeat, on_dead=on_dead,
                              hello=settings.hello, dead=settings.dead, registry=engine.metrics.registry)
    try:
        await start_parent_endpoint(host, port, endpoint)
    except OSError as exc:
        raise UserError(f"--sync-listen {settings.listen}: cannot listen: {exc.strerror or exc}") from exc
    log.info("event=heartbeats listen=%s hello=%g dead=%g", settings.listen, settings.hello, settings.dead)
    return endpoint
