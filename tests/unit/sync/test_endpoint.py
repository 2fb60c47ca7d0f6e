"""The parent's heartbeat endpoint over real UDP on loopback, with an agent's side made of the same codec.

A child heartbeat reaches ``on_heartbeat`` and is answered with the child's desired state at once; live
children get it again every hello; a child silent for ``dead`` seconds is reported dead once, and alive
again when heard; forged, replayed and foreign datagrams are dropped, counted by reason, never answered.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from prometheus_client import CollectorRegistry

from reconciler.model.heartbeat import ChildHeartbeat, ParentHeartbeat
from reconciler.sync.endpoint import ParentEndpoint, start_parent_endpoint
from reconciler.sync.keys import derive_node_key
from reconciler.sync.packets import Direction, Receiver, Sender

SECRET = b"t" * 48
AGENTS = {"n01", "n02"}  # nodes with kraken_agent: true


def key_of(node: str) -> bytes | None:
    return derive_node_key(SECRET, node) if node in AGENTS else None


def desired_of(node: str) -> ParentHeartbeat | None:
    return ParentHeartbeat(hello=0.2, dead=0.8, generation=3, desired={"image": "ACTIVE"}) if node in AGENTS else None


class Agent:
    """A child's side: a real UDP socket, sealing and opening with the node's key."""

    def __init__(self, name: str, key: bytes | None = None) -> None:
        self.name = name
        self.key = key or derive_node_key(SECRET, name)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.sender = Sender(Direction.TO_PARENT)
        self.receiver = Receiver(Direction.TO_CHILD, {name: derive_node_key(SECRET, name)}.get)

    def beat(self, port: int, **discovered: str) -> bytes:
        datagram = self.sender.seal(self.name, self.key, ChildHeartbeat(hello=0.2, discovered=discovered))
        self.sock.sendto(datagram, ("127.0.0.1", port))
        return datagram

    def inbox(self) -> list[ParentHeartbeat]:
        got = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return got
            opened = self.receiver.open(data)
            assert opened is not None, self.receiver.dropped
            assert isinstance(opened.heartbeat, ParentHeartbeat)
            got.append(opened.heartbeat)


class Parent:
    def __init__(self, dead: float = 0.8) -> None:
        self.registry = CollectorRegistry()
        self.heard: list[tuple[str, dict[str, str]]] = []
        self.dead: list[str] = []
        self.endpoint = ParentEndpoint(key_of=key_of, desired_of=desired_of,
                                       on_heartbeat=lambda n, h: self.heard.append((n, dict(h.discovered))),
                                       on_dead=self.dead.append, hello=0.2, dead=dead, registry=self.registry)

    async def __aenter__(self) -> Parent:
        await start_parent_endpoint("127.0.0.1", 0, self.endpoint)
        assert self.endpoint._transport is not None
        self.port = self.endpoint._transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.endpoint.close()

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels or None) or 0.0


async def until(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def test_a_child_is_heard_answered_at_once_and_kept_informed() -> None:
    async def scenario() -> None:
        async with Parent(dead=30) as parent:
            agent = Agent("n01")
            agent.beat(parent.port, power="POWER_ON", runstate="SYNC")
            await until(lambda: parent.heard, "the heartbeat")
            assert parent.heard == [("n01", {"power": "POWER_ON", "runstate": "SYNC"})]
            replies: list[ParentHeartbeat] = []
            await until(lambda: replies.extend(agent.inbox()) or replies, "the answer")
            assert replies[0].desired == {"image": "ACTIVE"} and replies[0].generation == 3
            # every hello the parent tells it again, without being asked
            await until(lambda: replies.extend(agent.inbox()) or len(replies) >= 3, "two hellos after the answer")
            agent.beat(parent.port, power="POWER_ON", runstate="SYNC")
            await until(lambda: len(parent.heard) == 2, "the second heartbeat")
            assert all(r.desired == {"image": "ACTIVE"} for r in replies) and parent.dead == []
            assert parent.metric("kraken_heartbeats_received_total") == 2

    asyncio.run(scenario())


def test_a_silent_child_is_dead_once_and_alive_again_when_heard() -> None:
    async def scenario() -> None:
        async with Parent() as parent:
            agent = Agent("n02")
            agent.beat(parent.port, runstate="SYNC")
            await until(lambda: parent.dead == ["n02"], "death after 0.8 s of silence")
            await asyncio.sleep(0.5)
            assert parent.dead == ["n02"]  # reported once, not on every tick
            agent.inbox()
            agent.beat(parent.port, runstate="SYNC")
            replies: list[ParentHeartbeat] = []
            await until(lambda: replies.extend(agent.inbox()) or replies, "the answer to a node back from the dead")
            assert parent.metric("kraken_agents_dead_total") == 1

    asyncio.run(scenario())


def test_forged_replayed_and_foreign_datagrams_are_dropped_and_never_answered() -> None:
    async def scenario() -> None:
        async with Parent() as parent:
            honest = Agent("n01")
            datagram = honest.beat(parent.port, power="POWER_ON")
            await until(lambda: parent.heard, "the honest heartbeat")
            honest.inbox()
            honest.sock.sendto(datagram, ("127.0.0.1", parent.port))  # replayed
            Agent("n02", key=derive_node_key(b"x" * 48, "n02")).beat(parent.port)  # a key not from our secret
            stranger = Agent("n99")
            stranger.beat(parent.port)  # not an agent node of the inventory
            stranger.sock.sendto(b"GET / HTTP/1.0\r\n\r\n", ("127.0.0.1", parent.port))
            await until(lambda: sum(parent.metric("kraken_heartbeats_dropped_total", reason=r)
                                    for r in ("replayed", "forged", "unknown_node", "malformed")) == 4, "4 drops")
            for reason in ("replayed", "forged", "unknown_node", "malformed"):
                assert parent.metric("kraken_heartbeats_dropped_total", reason=reason) == 1, reason
            assert len(parent.heard) == 1
            await asyncio.sleep(0.1)
            assert stranger.inbox() == []

    asyncio.run(scenario())
