"""Heartbeat datagrams: sealed with the node's key, fresh, never replayed (DESIGN §5).

A datagram is a clear header and a ChaCha20-Poly1305 ciphertext of the heartbeat's JSON::

    magic "KRK1" | direction (1 byte) | name length (1) | node name (UTF-8) | counter (8, big endian) | ciphertext

The header is the AEAD's associated data, so nothing in it can be altered; the nonce is the direction and the
counter, so the two directions never share a nonce under the node's one key. The counter is the sender's
clock in nanoseconds, forced to grow within a process: it stays unique across restarts (a nonce must never
repeat under a key) and lets a receiver refuse old datagrams even after it restarted itself and forgot the
last counter it accepted. A receiver accepts a datagram only if it authenticates, its counter is above the
last one accepted from that node in that direction, and its time is within ``max_skew`` of the receiver's
clock; everything else is dropped and counted by reason, never answered. The node name in the header says
which key to use; it is authenticated with the rest.

Payloads that would not fit the configured datagram size are refused before sending, with the fields that
take the room named (Kraken's assumption A5: state fits in a datagram).
"""

from __future__ import annotations

import json
import struct
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pydantic import BaseModel, ValidationError

from reconciler.errors import UserError
from reconciler.model.heartbeat import ChildHeartbeat, ParentHeartbeat

__all__ = ["DEFAULT_LIMIT", "Direction", "DropReason", "PayloadTooLarge", "Receiver", "Sealed", "Sender"]

MAGIC = b"KRK1"
DEFAULT_LIMIT = 1400  # bytes: one Ethernet frame with IP and UDP headers, no fragmentation
_COUNTER = struct.Struct(">Q")
_TAG = 16  # Poly1305
_MAX_NAME = 255


class Direction(IntEnum):
    TO_CHILD = 1  # parent → child: ParentHeartbeat
    TO_PARENT = 2  # child → parent: ChildHeartbeat


_PAYLOAD: dict[Direction, type[BaseModel]] = {Direction.TO_CHILD: ParentHeartbeat, Direction.TO_PARENT: ChildHeartbeat}


class DropReason(StrEnum):
    """Why a datagram was dropped (the label of the drop counter)."""

    MALFORMED = "malformed"  # not a heartbeat: too short, wrong magic, bad name
    WRONG_DIRECTION = "wrong_direction"  # a parent's datagram sent to a parent (or a child's to a child)
    UNKNOWN_NODE = "unknown_node"  # no key for the name in the header
    FORGED = "forged"  # does not authenticate under the node's key
    REPLAYED = "replayed"  # counter not above the last one accepted
    STALE = "stale"  # counter's time too far from the receiver's clock
    BAD_PAYLOAD = "bad_payload"  # authentic, but not a heartbeat this version understands


class PayloadTooLarge(UserError):
    """A heartbeat would not fit in one datagram; ``largest`` names the fields taking the room."""

    def __init__(self, node: str, size: int, limit: int, largest: list[tuple[str, int]]) -> None:
        fields = ", ".join(f"{name} ({length} bytes)" for name, length in largest)
        super().__init__(f"heartbeat for {node} is {size} bytes, over the datagram limit of {limit}; largest "
                         f"fields: {fields}. Shorten those values or raise the limit (sync.datagram_limit)")
        self.node, self.size, self.limit, self.largest = node, size, limit, largest


@dataclass(frozen=True)
class Sealed:
    """An accepted datagram: who sent it, its counter, and the heartbeat it carried."""

    node: str
    counter: int
    heartbeat: ParentHeartbeat | ChildHeartbeat


class Sender:
    """Seals heartbeats of one direction; its counter never goes back while the process lives."""

    def __init__(self, direction: Direction, *, limit: int = DEFAULT_LIMIT,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.direction = direction
        self.limit = limit
        self._clock_ns = clock_ns
        self._last = 0

    def seal(self, node: str, key: bytes, heartbeat: ParentHeartbeat | ChildHeartbeat) -> bytes:
        """The datagram carrying ``heartbeat`` for (or from) ``node`` under ``key``."""
        if not isinstance(heartbeat, _PAYLOAD[self.direction]):
            raise TypeError(f"a {self.direction.name} datagram carries a {_PAYLOAD[self.direction].__name__}")
        plaintext = heartbeat.model_dump_json(exclude_defaults=True).encode()
        name = node.encode()
        if not name or len(name) > _MAX_NAME:
            raise ValueError(f"node name {node!r} must be 1 to {_MAX_NAME} bytes")
        size = len(MAGIC) + 2 + len(name) + _COUNTER.size + len(plaintext) + _TAG
        if size > self.limit:
            raise PayloadTooLarge(node, size, self.limit, _largest_fields(json.loads(plaintext)))
        self._last = max(self._last + 1, self._clock_ns())
        header = _header(self.direction, name, self._last)
        return header + ChaCha20Poly1305(key).encrypt(_nonce(self.direction, self._last), plaintext, header)


class Receiver:
    """Opens datagrams of one direction; keeps, per node, the last counter accepted; counts what it drops."""

    def __init__(self, direction: Direction, keys: Callable[[str], bytes | None], *, max_skew: float = 300.0,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.direction = direction
        self._keys = keys
        self._max_skew_ns = int(max_skew * 1e9)
        self._clock_ns = clock_ns
        self._last: dict[str, int] = {}
        self.dropped: Counter[DropReason] = Counter()
        self.last_drop: DropReason | None = None  # why the last datagram that was dropped was dropped

    def open(self, datagram: bytes) -> Sealed | None:
        """The heartbeat in ``datagram``, or None (dropped and counted) if it is not authentic and fresh."""
        parsed = _parse(datagram)
        if parsed is None:
            return self._drop(DropReason.MALFORMED)
        direction, node, counter, header, ciphertext = parsed
        if direction != self.direction:
            return self._drop(DropReason.WRONG_DIRECTION)
        key = self._keys(node)
        if key is None:
            return self._drop(DropReason.UNKNOWN_NODE)
        try:
            plaintext = ChaCha20Poly1305(key).decrypt(_nonce(direction, counter), ciphertext, header)
        except InvalidTag:
            return self._drop(DropReason.FORGED)
        # Only an authentic datagram may move the window: a forger cannot push real heartbeats out.
        if counter <= self._last.get(node, 0):
            return self._drop(DropReason.REPLAYED)
        if abs(counter - self._clock_ns()) > self._max_skew_ns:
            return self._drop(DropReason.STALE)
        try:
            heartbeat = _PAYLOAD[direction].model_validate_json(plaintext)
        except ValidationError:
            return self._drop(DropReason.BAD_PAYLOAD)
        self._last[node] = counter
        return Sealed(node, counter, heartbeat)  # type: ignore[arg-type]

    def forget(self, node: str) -> None:
        """Drop a node's window (it left the inventory); freshness still guards against old datagrams."""
        self._last.pop(node, None)

    def _drop(self, reason: DropReason) -> None:
        self.dropped[reason] += 1
        self.last_drop = reason
        return None


def _header(direction: Direction, name: bytes, counter: int) -> bytes:
    return MAGIC + bytes([direction, len(name)]) + name + _COUNTER.pack(counter)


def _nonce(direction: Direction, counter: int) -> bytes:
    return bytes([direction, 0, 0, 0]) + _COUNTER.pack(counter)


def _parse(datagram: bytes) -> tuple[Direction, str, int, bytes, bytes] | None:
    if len(datagram) < len(MAGIC) + 2 or not datagram.startswith(MAGIC):
        return None
    kind, length = datagram[4], datagram[5]
    end = 6 + length + _COUNTER.size
    if kind not in (Direction.TO_CHILD, Direction.TO_PARENT) or length == 0 or len(datagram) < end + _TAG:
        return None
    try:
        node = datagram[6:6 + length].decode()
    except UnicodeDecodeError:
        return None
    (counter,) = _COUNTER.unpack(datagram[6 + length:end])
    return Direction(kind), node, counter, datagram[:end], datagram[end:]


def _largest_fields(payload: Mapping[str, object], top: int = 3) -> list[tuple[str, int]]:
    """The ``top`` largest leaves of the payload (``desired.image_name``), by their encoded size."""
    sizes: list[tuple[str, int]] = []
    for name, value in payload.items():
        if isinstance(value, dict) and value:
            sizes.extend((f"{name}.{k}", len(json.dumps({k: v}))) for k, v in value.items())
        else:
            sizes.append((name, len(json.dumps({name: value}))))
    return sorted(sizes, key=lambda item: (-item[1], item[0]))[:top]
