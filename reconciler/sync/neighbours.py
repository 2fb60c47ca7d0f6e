"""Who is alive: the parent's table of children heard from, like an OSPF neighbour table.

A child is alive from its first authentic heartbeat until ``dead`` seconds pass without another; then it
is dead once (the caller records ``runstate: ERROR``) until it is heard again. A child never heard from is
neither: it has not started yet, and its boot steps are what wait for it. The table also remembers each
child's last address, where the parent's heartbeats go (a node's address may change with DHCP).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Neighbour", "NeighbourTable"]

Address = tuple[str, int]


@dataclass
class Neighbour:
    name: str
    address: Address
    heard_at: float  # monotonic seconds
    alive: bool = True


class NeighbourTable:
    def __init__(self, dead: float) -> None:
        if dead <= 0:
            raise ValueError(f"dead must be > 0 seconds, got {dead}")
        self.dead = dead
        self._neighbours: dict[str, Neighbour] = {}

    def heard(self, name: str, address: Address, now: float) -> bool:
        """Record a heartbeat; True when the child was not alive before (new, or back from the dead)."""
        known = self._neighbours.get(name)
        if known is None:
            self._neighbours[name] = Neighbour(name, address, now)
            return True
        came_back = not known.alive
        known.address, known.heard_at, known.alive = address, now, True
        return came_back

    def expire(self, now: float) -> list[str]:
        """The children that just went silent for longer than ``dead`` (each reported once)."""
        died = [n.name for n in self._neighbours.values() if n.alive and now - n.heard_at > self.dead]
        for name in died:
            self._neighbours[name].alive = False
        return sorted(died)

    def alive(self) -> list[Neighbour]:
        return [n for n in self._neighbours.values() if n.alive]

    def forget(self, name: str) -> None:
        """The child left the inventory."""
        self._neighbours.pop(name, None)

    def get(self, name: str) -> Neighbour | None:
        return self._neighbours.get(name)
