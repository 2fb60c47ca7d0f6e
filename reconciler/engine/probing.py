"""Probes of agentless nodes: how drift is noticed without an agent (DESIGN §4).

A node with an agent reports its own state in heartbeats. For a node without one (``kraken_agent`` not
true), the reconciler runs the catalog's *probes* — report-only entry points such as "ask the BMC for the
power state" or "which image runs" — over the node's ordinary connection:

* in rounds, every ``probe_interval`` (± jitter): drift (a node powered off behind our back) becomes a
  discovered change, and the engine replans;
* when the node's config changes: what a probe reports may depend on it (the image probe reports UPDATE
  once ``kraken_image_name`` names another image: that is how a rolling update starts);
* when a probe's ``requires`` start to hold (``busy`` can be observed once the node is in SYNC).

A probe runs only while its ``requires`` hold for the node's known values and config, never while a step
runs on the node, and the node gets no step while one of its probes is pending or running: a probe must
not report a value from before the step as if it were after. Probes of many nodes share a run, like steps.
A probe that fails or times out changes nothing (the node's known values stay; the failure is journaled):
a probe cannot know what its failure means, a mutation's ``failto`` can.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.engine.clock import Clock
from reconciler.engine.executor import Executor, HostOutcome, HostResult, RunRequest
from reconciler.model.catalog import Catalog, Probe, Step
from reconciler.model.types import MutationId

__all__ = ["Prober", "applicable_probes"]

log = logging.getLogger(__name__)


def applicable_probes(probes: Iterable[Probe], known: Mapping[str, str], config: Mapping[str, str]) -> list[Probe]:
    """The probes whose ``requires`` hold for these known values and config (absent = unknown)."""
    values = {**config, **known}
    return [p for p in probes if all(values.get(var) == value for var, value in p.requires.items())]


@dataclass
class _Pending:
    hosts: list[str] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


ProbeReport = Callable[[str, Probe, HostResult, str], None]
"""``(host, probe, result, run id)``: called in the event loop for every host of a finished probe run."""


class Prober:
    """Batches probe requests per probe and runs them; ``busy(host)`` says whether a host waits for one."""

    def __init__(self, catalog: Catalog, executor: Executor, clock: Clock, *, batch_window: float, forks: int,
                 run_timeout: Callable[[Step, int], float],
                 hostvars: Callable[[list[str]], Awaitable[dict[str, dict[str, object]]]], report: ProbeReport,
                 cancel: asyncio.Event) -> None:
        self.probes = sorted(catalog.probes.values(), key=lambda p: p.id)
        self._executor = executor
        self._clock = clock
        self._batch_window = batch_window
        self._forks = forks
        self._run_timeout = run_timeout  # the engine's: probes get the deadline steps get
        self._hostvars = hostvars
        self._report = report
        self._cancel = cancel
        self._pending: dict[MutationId, _Pending] = {}
        self._busy: Counter[str] = Counter()  # host -> probes pending or running
        self._runs: set[asyncio.Task[None]] = set()
        self._seq = itertools.count(1)

    def busy(self, host: str) -> bool:
        return self._busy[host] > 0

    def request(self, host: str, probes: Iterable[Probe]) -> None:
        """Run these probes for ``host`` soon (with whatever other hosts ask for the same probe meanwhile)."""
        for probe in probes:
            pending = self._pending.setdefault(probe.id, _Pending())
            if host in pending.hosts:
                continue
            pending.hosts.append(host)
            self._busy[host] += 1
            if pending.timer is None:
                loop = asyncio.get_running_loop()
                pending.timer = loop.call_later(self._batch_window, self._flush, probe)

    async def stop(self) -> None:
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
        self._pending.clear()
        await asyncio.gather(*self._runs, return_exceptions=True)

    def _flush(self, probe: Probe) -> None:
        pending = self._pending.pop(probe.id, None)
        if pending and pending.hosts:
            task = asyncio.create_task(self._run(probe, pending.hosts), name=f"probe {probe.id}")
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    async def _run(self, probe: Probe, hosts: list[str]) -> None:
        run_id = f"{int(self._clock.time())}-probe-{next(self._seq):05d}-{probe.role.rsplit('.', 1)[-1]}-{probe.name}"
        try:
            hostvars = await self._hostvars(hosts)
            present = [h for h in hosts if h in hostvars]
            request = RunRequest(run_id, probe, {h: hostvars[h] for h in present},
                                 timeout=self._run_timeout(probe, len(present)),
                                 forks=min(self._forks, max(1, len(present))))
            outcomes = dict((await self._executor.run(request, cancel=self._cancel)).hosts) if present else {}
        except Exception as exc:  # the runner itself broke: nothing was observed
            log.exception("event=probe_error run=%s probe=%s", run_id, probe.id)
            outcomes = {h: HostResult(h, HostOutcome.MISSING, {}, f"the run failed: {exc}") for h in hosts}
        for host in hosts:
            self._busy[host] -= 1
            if self._busy[host] <= 0:
                del self._busy[host]
            result = outcomes.get(host) or HostResult(host, HostOutcome.MISSING, {}, "left the inventory")
            self._report(host, probe, result, run_id)
