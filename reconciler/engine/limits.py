"""Back-pressure policies: per (host, mutation) exponential backoff, a global start rate, a disruption budget.

Each is a small object with no I/O, driven by a :class:`~reconciler.engine.clock.Clock` time, so the
engine's behaviour tests can step through them deterministically.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["BackoffPolicy", "DisruptionBudget", "StartRateLimiter"]


@dataclass(frozen=True)
class BackoffPolicy:
    """``base * factor**(attempts-1)`` seconds, capped, with ±``jitter`` (fraction) so retries spread out."""

    base: float = 2.0
    factor: float = 2.0
    cap: float = 300.0
    jitter: float = 0.2

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        raw = min(self.cap, self.base * self.factor ** max(0, attempts - 1))
        spread = (rng or random).uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        return max(0.0, raw * (1.0 + spread))


class StartRateLimiter:
    """A token bucket: at most ``rate`` step starts per second on average, bursts up to ``burst``.

    So that 1,000 hosts coming back at once do not start 1,000 power-ons in the same second.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(max(1, burst))
        self._tokens = self.burst
        self._at = now

    def reserve(self, now: float) -> float:
        """Take a token if one is there (returns 0.0); otherwise the seconds until one will be."""
        if self.rate <= 0:
            return 0.0
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class DisruptionBudget:
    """At most N hosts (absolute, or a percentage of the group) in a disruptive step at once, per group.

    ``limits`` maps a group name (``all`` for every host) to ``3`` or ``"10%"``; ``groups_of(host)`` and
    ``group_size(group)`` come from the inventory in force. A percentage rounds down but never below 1.
    """

    def __init__(self, limits: Mapping[str, int | str], groups_of: Callable[[str], Iterable[str]],
                 group_size: Callable[[str], int]) -> None:
        self.limits = dict(limits)
        self._groups_of = groups_of
        self._group_size = group_size
        self._holders: dict[str, set[str]] = {group: set() for group in self.limits}

    def _limit(self, group: str) -> int:
        limit = self.limits[group]
        if isinstance(limit, str) and limit.endswith("%"):
            return max(1, int(self._group_size(group) * float(limit[:-1]) / 100.0))
        return int(limit)

    def _groups(self, host: str) -> list[str]:
        mine = set(self._groups_of(host)) | {"all"}
        return [g for g in self.limits if g in mine]

    def try_acquire(self, host: str) -> str | None:
        """Take a slot in every budget the host belongs to; returns None, or the group that is full."""
        groups = self._groups(host)
        for group in groups:
            holders = self._holders[group]
            if host not in holders and len(holders) >= self._limit(group):
                return group
        for group in groups:
            self._holders[group].add(host)
        return None

    def release(self, host: str) -> None:
        for holders in self._holders.values():
            holders.discard(host)

    def in_use(self) -> dict[str, int]:
        return {group: len(holders) for group, holders in self._holders.items()}
