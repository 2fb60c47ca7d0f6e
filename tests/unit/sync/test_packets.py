"""Heartbeat datagrams: what is sealed opens unchanged; anything forged, replayed, stale or foreign is dropped
and counted by reason; a heartbeat that would not fit a datagram is refused naming its largest fields."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from reconciler.model.heartbeat import ChildHeartbeat, ParentHeartbeat
from reconciler.sync.keys import derive_node_key
from reconciler.sync.packets import (
    Direction,
    DropReason,
    PayloadTooLarge,
    Receiver,
    Sender,
    _header,
    _nonce,
)

SECRET = b"s" * 48
KEYS = {name: derive_node_key(SECRET, name) for name in ("n01", "n02")}
NOW = 1_800_000_000 * 10**9  # a fixed "now" in nanoseconds
CHILD_SAYS = ChildHeartbeat(hello=10, discovered={"power": "POWER_ON", "runstate": "SYNC"}, generation=7)
PARENT_SAYS = ParentHeartbeat(hello=10, dead=40, generation=7, desired={"image": "ACTIVE"},
                              config={"image_name": "compute-2026.11"})


class Clock:
    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def parent_receiver(clock: Clock | None = None, max_skew: float = 300.0) -> Receiver:
    return Receiver(Direction.TO_PARENT, KEYS.get, max_skew=max_skew, clock_ns=clock or Clock())


def child_sender(clock: Clock | None = None) -> Sender:
    return Sender(Direction.TO_PARENT, clock_ns=clock or Clock())


def test_both_directions_open_to_what_was_sealed() -> None:
    up = child_sender().seal("n01", KEYS["n01"], CHILD_SAYS)
    got = parent_receiver().open(up)
    assert got is not None and got.node == "n01" and got.heartbeat == CHILD_SAYS
    down = Sender(Direction.TO_CHILD, clock_ns=Clock()).seal("n01", KEYS["n01"], PARENT_SAYS)
    child = Receiver(Direction.TO_CHILD, {"n01": KEYS["n01"]}.get, clock_ns=Clock())
    opened = child.open(down)
    assert opened is not None and opened.heartbeat == PARENT_SAYS
    assert b"POWER_ON" not in up and b"compute-2026.11" not in down  # encrypted, not only signed


@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_flipped_bit_is_dropped_never_accepted(position: int, bit: int) -> None:
    datagram = bytearray(child_sender().seal("n01", KEYS["n01"], CHILD_SAYS))
    datagram[position % len(datagram)] ^= 1 << bit
    receiver = parent_receiver()
    assert receiver.open(bytes(datagram)) is None
    assert sum(receiver.dropped.values()) == 1


def test_a_replayed_or_older_datagram_is_dropped() -> None:
    clock = Clock()
    sender, receiver = child_sender(clock), parent_receiver(clock)
    first = sender.seal("n01", KEYS["n01"], CHILD_SAYS)
    clock.now += 10**9
    second = sender.seal("n01", KEYS["n01"], CHILD_SAYS)
    assert receiver.open(second) is not None
    assert receiver.open(second) is None and receiver.open(first) is None
    assert receiver.dropped == {DropReason.REPLAYED: 2}


def test_a_node_cannot_speak_for_another_and_strangers_are_unknown() -> None:
    sender, receiver = child_sender(), parent_receiver()
    assert receiver.open(sender.seal("n02", KEYS["n01"], CHILD_SAYS)) is None  # n01's key, n02's name
    assert receiver.open(sender.seal("n99", KEYS["n01"], CHILD_SAYS)) is None
    assert receiver.dropped == {DropReason.FORGED: 1, DropReason.UNKNOWN_NODE: 1}


def test_a_forged_datagram_does_not_move_the_window() -> None:
    clock = Clock()
    receiver = parent_receiver(clock)
    future = Sender(Direction.TO_PARENT, clock_ns=Clock(NOW + 60 * 10**9))
    assert receiver.open(future.seal("n01", KEYS["n02"], CHILD_SAYS)) is None  # wrong key, counter far ahead
    assert receiver.open(child_sender(clock).seal("n01", KEYS["n01"], CHILD_SAYS)) is not None


def test_old_datagrams_are_refused_even_by_a_restarted_receiver() -> None:
    captured = child_sender(Clock(NOW - 600 * 10**9)).seal("n01", KEYS["n01"], CHILD_SAYS)  # 10 minutes ago
    fresh_receiver = parent_receiver()  # remembers no counters, like a reconciler just restarted
    assert fresh_receiver.open(captured) is None and fresh_receiver.dropped == {DropReason.STALE: 1}
    ahead = child_sender(Clock(NOW + 600 * 10**9)).seal("n01", KEYS["n01"], CHILD_SAYS)  # a node's clock far ahead
    assert fresh_receiver.open(ahead) is None and fresh_receiver.dropped[DropReason.STALE] == 2


def test_the_counter_grows_when_the_clock_goes_back() -> None:
    clock = Clock()
    sender, receiver = child_sender(clock), parent_receiver(Clock())
    first = sender.seal("n01", KEYS["n01"], CHILD_SAYS)
    clock.now -= 5 * 10**9  # NTP stepped the clock back
    second = sender.seal("n01", KEYS["n01"], CHILD_SAYS)
    assert receiver.open(first) is not None and receiver.open(second) is not None


def test_directions_are_not_interchangeable() -> None:
    to_child = Sender(Direction.TO_CHILD, clock_ns=Clock()).seal("n01", KEYS["n01"], PARENT_SAYS)
    receiver = parent_receiver()
    assert receiver.open(to_child) is None and receiver.dropped == {DropReason.WRONG_DIRECTION: 1}
    with pytest.raises(TypeError):
        child_sender().seal("n01", KEYS["n01"], PARENT_SAYS)  # type: ignore[arg-type]


def test_an_authentic_datagram_that_is_not_a_heartbeat_is_counted_as_bad_payload() -> None:
    header = _header(Direction.TO_PARENT, b"n01", NOW)
    datagram = header + ChaCha20Poly1305(KEYS["n01"]).encrypt(_nonce(Direction.TO_PARENT, NOW), b'{"hello": -1}',
                                                              header)
    receiver = parent_receiver()
    assert receiver.open(datagram) is None and receiver.dropped == {DropReason.BAD_PAYLOAD: 1}


@pytest.mark.parametrize("datagram", [b"", b"KRK1", b"HTTP/1.1 200 OK\r\n\r\n", b"KRK1\x02\x00" + b"\0" * 40])
def test_noise_is_malformed(datagram: bytes) -> None:
    receiver = parent_receiver()
    assert receiver.open(datagram) is None and receiver.dropped == {DropReason.MALFORMED: 1}


def test_a_heartbeat_over_the_limit_is_refused_naming_its_largest_fields() -> None:
    big = ParentHeartbeat(hello=10, dead=40, generation=1, desired={"image": "ACTIVE"},
                          config={"image_name": "x" * 900, "motd": "y" * 400, "site": "lab"})
    with pytest.raises(PayloadTooLarge) as caught:
        Sender(Direction.TO_CHILD, limit=1000).seal("n01", KEYS["n01"], big)
    message = str(caught.value)
    assert "heartbeat for n01" in message and "over the datagram limit of 1000" in message
    assert message.index("config.image_name") < message.index("config.motd")  # largest first
    assert [name for name, _ in caught.value.largest] == ["config.image_name", "config.motd", "desired.image"]
    assert Sender(Direction.TO_CHILD, limit=2000).seal("n01", KEYS["n01"], big)  # fits a larger limit
