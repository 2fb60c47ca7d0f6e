"""Prometheus metrics of the engine, on a registry passed in (no global registry).

Names follow controller-runtime where they fit (``reconcile_total{result}``, ``reconcile_time_seconds``,
``workqueue_depth``, ``workqueue_retries_total``); ours carry the ``kraken_`` prefix. Gauges about the
fleet (hosts by variable and value, hosts by status) are computed at scrape time from the engine's
current view, so they can never drift from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["EngineMetrics", "FleetSnapshot"]

_RUN_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class FleetSnapshot:
    """What the scrape-time collector needs from the engine."""

    values: list[tuple[str, str, str, int]]  # (kind desired|discovered, variable, value, hosts)
    statuses: dict[str, int]
    queue_depth: int
    queue_waiting: int
    generation: int
    commit: str
    dirty: bool
    in_flight: int


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.reconcile_total = Counter("reconcile_total", "Reconciles by result", ["result"], registry=registry)
        self.reconcile_time = Histogram("reconcile_time_seconds", "Time of one reconcile (planning, not the run)",
                                        registry=registry)
        self.workqueue_retries = Counter("workqueue_retries_total", "Hosts re-queued with a delay", registry=registry)
        self.mutation_runs = Counter("kraken_mutation_runs_total", "Per-host step outcomes", ["mutation", "outcome"],
                                     registry=registry)
        self.mutation_duration = Histogram("kraken_mutation_duration_seconds", "Step duration per host",
                                           ["mutation"], buckets=_RUN_BUCKETS, registry=registry)
        self.runner_duration = Histogram("kraken_runner_run_seconds", "Duration of one ansible-runner run",
                                         buckets=_RUN_BUCKETS, registry=registry)
        self.runner_batch = Histogram("kraken_runner_batch_hosts", "Hosts per ansible-runner run",
                                      buckets=(1, 2, 5, 10, 20, 50, 100, 250, 500), registry=registry)
        self.desired_rejected = Counter("kraken_desired_rejected_total", "Inventory loads rejected as invalid",
                                        registry=registry)
        self.discoveries_rejected = Counter("kraken_discoveries_rejected_total",
                                            "Reported values dropped (variable or value not allowed)",
                                            registry=registry)
        self.probe_runs = Counter("kraken_probe_runs_total", "Per-host probe outcomes (agentless nodes)",
                                  ["probe", "outcome"], registry=registry)
        self.timeouts = Counter("kraken_step_timeouts_total", "Steps that timed out", ["mutation"], registry=registry)
        self.disruption_waits = Counter("kraken_disruption_budget_waits_total",
                                        "Steps held back by the disruption budget", registry=registry)
        self.ready = Gauge("kraken_ready", "1 once the first valid desired state is loaded", registry=registry)

    def watch(self, snapshot: Callable[[], FleetSnapshot]) -> None:
        """Register the scrape-time fleet collector reading ``snapshot()``."""
        self.registry.register(_FleetCollector(snapshot))


class _FleetCollector(Collector):
    def __init__(self, snapshot: Callable[[], FleetSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Any]:
        snap = self._snapshot()
        hosts = GaugeMetricFamily("kraken_hosts", "Hosts by variable and value", labels=["kind", "variable", "value"])
        for kind, variable, value, count in snap.values:
            hosts.add_metric([kind, variable, value], count)
        yield hosts
        status = GaugeMetricFamily("kraken_hosts_status", "Hosts by convergence status", labels=["status"])
        for name, count in snap.statuses.items():
            status.add_metric([name], count)
        yield status
        yield _gauge("kraken_hosts_converged", "Hosts at their desired state", snap.statuses.get("converged", 0))
        yield _gauge("workqueue_depth", "Hosts waiting for a reconcile", snap.queue_depth)
        yield _gauge("kraken_workqueue_delayed", "Hosts with a delayed retry scheduled", snap.queue_waiting)
        yield _gauge("kraken_steps_in_flight", "Hosts with a step running", snap.in_flight)
        generation = GaugeMetricFamily("kraken_desired_generation", "Generation of desired state in force",
                                       labels=["commit", "dirty"])
        generation.add_metric([snap.commit, str(snap.dirty).lower()], snap.generation)
        yield generation

    def describe(self) -> Iterable[Any]:
        return []


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
