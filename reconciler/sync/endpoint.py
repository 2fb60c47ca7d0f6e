"""The parent's heartbeat endpoint: one UDP socket for every child (DESIGN §5).

It opens each datagram (:mod:`~reconciler.sync.packets`: authentic, fresh, not replayed, else dropped and
counted), records the child in the :class:`~reconciler.sync.neighbours.NeighbourTable`, hands what the child
discovered to ``on_heartbeat``, and answers with the child's desired state; every ``hello`` seconds it sends
each live child its desired state again and reports the children that went silent to ``on_dead``. It knows
nothing of the engine: the daemon wires the callbacks (discoveries to the engine, death to runstate ERROR).

Keys are derived from the reconciler's secret on first use and kept in memory only; a name ``key_of``
refuses (not an agent node of the inventory) is an unknown node, its datagrams dropped unopened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import cast

from prometheus_client import CollectorRegistry, Counter

from reconciler.model.heartbeat import ChildHeartbeat, ParentHeartbeat
from reconciler.sync.neighbours import Address, NeighbourTable
from reconciler.sync.packets import DEFAULT_LIMIT, Direction, PayloadTooLarge, Receiver, Sender

__all__ = ["ParentEndpoint", "start_parent_endpoint"]

log = logging.getLogger(__name__)


class ParentEndpoint(asyncio.DatagramProtocol):
    def __init__(self, *, key_of: Callable[[str], bytes | None],
                 desired_of: Callable[[str], ParentHeartbeat | None],
                 on_heartbeat: Callable[[str, ChildHeartbeat], None], on_dead: Callable[[str], None],
                 hello: float, dead: float, registry: CollectorRegistry, limit: int = DEFAULT_LIMIT,
                 max_skew: float = 300.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.hello = hello
        self.table = NeighbourTable(dead)
        self._key_of = key_of
        self._desired_of = desired_of
        self._on_heartbeat = on_heartbeat
        self._on_dead = on_dead
        self._monotonic = monotonic
        self._receiver = Receiver(Direction.TO_PARENT, key_of, max_skew=max_skew)
        self._sender = Sender(Direction.TO_CHILD, limit=limit)
        self._transport: asyncio.DatagramTransport | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.received = Counter("kraken_heartbeats_received_total", "Authentic heartbeats from agents",
                                registry=registry)
        self.dropped = Counter("kraken_heartbeats_dropped_total", "Heartbeat datagrams dropped, by reason",
                               ["reason"], registry=registry)
        self.deaths = Counter("kraken_agents_dead_total", "Agents declared dead after going silent",
                              registry=registry)

    # -- asyncio ---------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="heartbeats")

    def datagram_received(self, data: bytes, addr: Address) -> None:
        opened = self._receiver.open(data)
        if opened is None:
            reason = self._receiver.last_drop
            self.dropped.labels(reason=reason.value if reason else "unknown").inc()
            log.debug("event=heartbeat_dropped reason=%s from=%s:%d", reason, addr[0], addr[1])
            return
        self.received.inc()
        node = opened.node
        if self.table.heard(node, (addr[0], addr[1]), self._monotonic()):
            log.info("event=agent_alive node=%s address=%s:%d", node, addr[0], addr[1])
            self._send(node)  # a child that just (re)appeared gets its desired state at once
        assert isinstance(opened.heartbeat, ChildHeartbeat)
        self._on_heartbeat(node, opened.heartbeat)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ticker is not None:
            self._ticker.cancel()

    # -- the beat ------------------------------------------------------------------------------------

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.hello)
            for node in self.table.expire(self._monotonic()):
                self.deaths.inc()
                log.warning("event=agent_dead node=%s silent_for_more_than=%gs", node, self.table.dead)
                self._on_dead(node)
            for neighbour in self.table.alive():
                self._send(neighbour.name)

    def _send(self, node: str) -> None:
        neighbour, key, heartbeat = self.table.get(node), self._key_of(node), self._desired_of(node)
        if neighbour is None or key is None or heartbeat is None or self._transport is None:
            return
        try:
            self._transport.sendto(self._sender.seal(node, key, heartbeat), neighbour.address)
        except PayloadTooLarge as exc:
            log.error("event=heartbeat_too_large node=%s %s", node, exc)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def start_parent_endpoint(host: str, port: int, endpoint: ParentEndpoint) -> ParentEndpoint:
    """Bind ``endpoint`` to ``host:port`` (UDP); close it with :meth:`ParentEndpoint.close`."""
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: endpoint, local_addr=(host, port))
    return endpoint
