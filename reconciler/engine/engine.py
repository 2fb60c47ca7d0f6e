"""The reconciler's engine: keeps every host moving toward its desired state, forever.

The contract fits in a minute (STYLE §7):

* a per-host :class:`~reconciler.engine.workqueue.WorkQueue` (never two passes for one host at once,
  events during a step coalesce);
* one function, :meth:`Engine._reconcile`, that re-reads the host's desired and discovered state, plans,
  and either records a status (converged, blocked, failed, frozen) or dispatches the first step;
* one place that maps a step's outcome to what happens next, :meth:`Engine._complete`: observed ``to``
  values → success (backoff reset); something else observed → replan at once; a timeout → the ``failto``
  values are recorded, the role's ``interrupt`` entry point (if any) is told, and the host replans;
  a failure → exponential backoff per (host, mutation), the host marked failed after ``max_attempts``;
* agentless hosts are probed (:mod:`~reconciler.engine.probing`) in rounds, on config changes and when a
  probe starts to apply; what a probe reports is discovered state like any other.

Steps of many hosts that are ready within ``batch_window`` run as one ansible-runner run; runs are
bounded in number; disruptive steps hold a slot of the disruption budget; step starts are rate limited.
Discovered state, steps in flight, backoff and the event journal live in SQLite, so a restart resumes
where it stopped: finished steps are not run again and backoff is not forgotten.

A step in flight is never cancelled because the plan changed: it is bounded by its timeout, and its
host replans as soon as it returns (a desired-state edit does not race a half-done power-on).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.engine.clock import Clock, SystemClock
from reconciler.engine.executor import Executor, HostOutcome, HostResult, RunRequest
from reconciler.engine.journal import Journal
from reconciler.engine.limits import BackoffPolicy, DisruptionBudget, StartRateLimiter
from reconciler.engine.metrics import EngineMetrics, FleetSnapshot
from reconciler.engine.persistence import BackoffRecord, GenerationRecord, InFlightRecord, StateDB
from reconciler.engine.probing import Prober, applicable_probes
from reconciler.engine.settings import EngineSettings
from reconciler.engine.workqueue import WorkQueue
from reconciler.errors import Problem
from reconciler.graph.epistemic import EpistemicGraph
from reconciler.graph.planner import Plan, Planner
from reconciler.inventory.desired import InventoryState
from reconciler.model.api import EventKind, FreezeResult, NodeDoc, NodeStatus
from reconciler.model.catalog import Catalog, Mutation, Probe, Step
from reconciler.model.reports import PlannedStep, PlanStatus
from reconciler.model.types import MutationId

__all__ = ["Engine", "HostRecord"]

log = logging.getLogger(__name__)

_INTERRUPT_TIMEOUT = 60.0  # seconds an ``interrupt`` entry point may take (ansible's own start-up included)
_PRUNE_EVERY = 3600.0  # seconds between journal prunings (retention is counted in days, the row cap is large)


class DesiredUpdate(Protocol):
    """A generation of desired state (``reconciler.inventory.source.DesiredGeneration`` satisfies it)."""

    @property
    def generation(self) -> int: ...
    @property
    def state(self) -> InventoryState: ...
    @property
    def commit(self) -> str | None: ...
    @property
    def dirty(self) -> bool | None: ...
    @property
    def loaded_at(self) -> float: ...


@dataclass
class InFlight:
    mutation: MutationId
    started: float  # monotonic
    run_id: str | None = None  # known once the batch is flushed
    disruptive: bool = False


class _Batch:
    """One run's hosts that finished early wait here for their batch-mates, for a while.

    Early completion frees a host from a hung batch-mate; holding it for ``straggler_wait`` keeps
    hosts that finish within seconds of each other together for their next step (one run, not fifty).
    """

    def __init__(self, release: Callable[[str], None], wait: float) -> None:
        self.finished: set[str] = set()
        self._held: list[str] = []
        self._release = release
        self._wait = wait
        self._timer: asyncio.TimerHandle | None = None
        self._open = True

    def next_step(self, host: str) -> None:
        if not self._open:
            self._release(host)
            return
        self._held.append(host)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._wait, self.release_all)

    def release_all(self) -> None:
        self._open = False
        if self._timer is not None:
            self._timer.cancel()
        held, self._held = self._held, []
        for host in held:
            self._release(host)


@dataclass
class HostRecord:
    """What the engine holds for one host; the plan is recomputed on every pass (level-triggered)."""

    name: str
    desired: dict[str, str] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    discovered: dict[str, str] = field(default_factory=dict)
    status: NodeStatus = NodeStatus.UNMANAGED
    reason: str = ""
    plan: Plan | None = None
    running: InFlight | None = None
    agentless: bool = True  # no agent reports this host's state: the engine probes it


class Engine:
    """Reconciles every host of the desired state in force; see the module docstring for the contract."""

    def __init__(self, *, catalog: Catalog, graph: EpistemicGraph, executor: Executor, db: StateDB,
                 settings: EngineSettings, metrics: EngineMetrics, clock: Clock | None = None,
                 rng: random.Random | None = None) -> None:
        self.catalog = catalog
        self.graph = graph
        self.planner = Planner(graph)
        self.executor = executor
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self.journal = Journal(db, self.clock)
        self.queue = WorkQueue()
        self.backoff_policy = BackoffPolicy(settings.backoff.base, settings.backoff.factor, settings.backoff.cap,
                                            settings.backoff.jitter)
        self.rate = StartRateLimiter(settings.start_rate, settings.start_burst, self.clock.monotonic())
        self.budget = DisruptionBudget(settings.disruption_budget, self._groups_of, self._group_size)
        self.hosts: dict[str, HostRecord] = {}
        self.inventory: InventoryState | None = None
        self.generation: GenerationRecord | None = None
        self._discovered_at_start: dict[str, dict[str, str]] = {}
        self._backoff: dict[tuple[str, str], BackoffRecord] = {}
        self._freeze_ops: list[str] = []  # "+pattern" freezes, "-pattern" thaws, applied in order
        self._frozen: set[str] = set()
        self._group_members: dict[str, set[str]] = {}
        self._pending: dict[MutationId, list[str]] = {}
        self._flush_timers: dict[MutationId, asyncio.TimerHandle] = {}
        self._runs: set[asyncio.Task[None]] = set()
        self._cancel = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._resync: asyncio.Task[None] | None = None
        self._probe_rounds: asyncio.Task[None] | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._run_seq = itertools.count(1)
        self._stopping = False
        self.prober = Prober(catalog, executor, self.clock, batch_window=settings.batch_window, forks=settings.forks,
                             run_timeout=self._run_timeout, hostvars=self._hostvars, report=self._probed,
                             cancel=self._cancel)
        metrics.watch(self._snapshot)

    # -- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume from the database and start the workers; hosts are managed once desired state arrives."""
        self._discovered_at_start = self.db.load_discovered()
        self._backoff = self.db.load_backoff()
        interrupted = self.db.load_in_flight()
        for host, record in interrupted.items():
            # The previous process stopped with this step running: its outcome is unknown. Mutations are
            # idempotent, so the host simply replans from what was discovered before.
            self.db.record_step_end(host)
            self.journal.emit(EventKind.STEP_FAILED, host=host, mutation=record.mutation, run_id=record.run_id,
                              message="interrupted by a restart of the reconciler; replanning")
        global_frozen, ops = self.db.load_freezes()
        self._freeze_ops = (["+all"] if global_frozen else []) + list(ops)
        self.generation = self.db.last_generation()
        self._workers = [asyncio.create_task(self._worker(), name=f"reconcile-{i}")
                         for i in range(self.settings.workers)]
        if self.settings.resync_interval > 0:
            self._resync = asyncio.create_task(
                self._every(self.settings.resync_interval, self.settings.resync_jitter, self.resync), name="resync")
        self._prune()
        self._housekeeping = asyncio.create_task(self._every(_PRUNE_EVERY, 0.0, self._prune), name="journal pruning")
        if self.settings.probe_interval > 0 and self.prober.probes:
            self._probe_rounds = asyncio.create_task(
                self._every(self.settings.probe_interval, self.settings.probe_jitter, self._probe_round),
                name="probe rounds")

    async def stop(self) -> None:
        """Stop dispatching, cancel runs in flight (their hosts re-observe on the next start), stop workers."""
        self._stopping = True
        self.queue.close()
        for timer in self._flush_timers.values():
            timer.cancel()
        self._flush_timers.clear()
        self._pending.clear()
        self._cancel.set()
        loops = [task for task in (self._resync, self._probe_rounds, self._housekeeping) if task is not None]
        for task in loops:
            task.cancel()
        await asyncio.gather(*self._workers, *self._runs, *loops, self.prober.stop(), return_exceptions=True)

    @property
    def ready(self) -> bool:
        """True once a valid desired state is in force."""
        return self.inventory is not None

    # -- inputs -------------------------------------------------------------------------------------

    def apply_desired(self, update: DesiredUpdate) -> None:
        """Put a new generation of desired state in force and queue every host it changes."""
        state = update.state
        self.inventory = state
        self._group_members.clear()
        self.generation = GenerationRecord(update.generation, update.commit, bool(update.dirty), update.loaded_at,
                                           len(state.hosts), str(state.source))
        self.db.record_generation(self.generation)
        for name in [n for n in self.hosts if n not in state.hosts]:
            del self.hosts[name]
            self._backoff = {k: v for k, v in self._backoff.items() if k[0] != name}
            self.db.forget_host(name)
        changed: list[str] = []
        probe_again: list[str] = []
        for name, wanted in state.hosts.items():
            record = self.hosts.get(name)
            if record is None:
                record = self.hosts[name] = HostRecord(name)
                record.discovered = self.graph.forget_unknowables(self._discovered_at_start.pop(name, {}))
                changed.append(name)  # every new host gets a first pass, managed or not
            record.agentless = wanted.agent is not True
            if record.desired != wanted.desired or record.config != wanted.config:
                if name not in changed:
                    self._clear_backoff(name)  # a new desired state deserves fresh attempts
                    changed.append(name)
                    if record.config != wanted.config:
                        probe_again.append(name)  # what a probe reports may depend on config (image name)
                record.desired, record.config = dict(wanted.desired), dict(wanted.config)
        self._recompute_frozen()
        self.metrics.ready.set(1)
        self.journal.emit(EventKind.DESIRED_LOADED, message=f"generation {update.generation} in force",
                          generation=update.generation, commit=update.commit, dirty=update.dirty,
                          hosts=len(state.hosts), changed=len(changed))
        for name in probe_again:
            self._probe(self.hosts[name])
        for name in changed:
            self.queue.add(name)

    def reject_desired(self, problems: Sequence[Problem], *, commit: str | None = None) -> None:
        """An inventory edit was invalid: say so everywhere; the generation in force stays."""
        self.metrics.desired_rejected.inc()
        in_force = self.generation.generation if self.generation else None
        self.journal.emit(EventKind.DESIRED_REJECTED, message=f"{len(problems)} problem(s); generation "
                          f"{in_force} stays in force", commit=commit, problems=[str(p) for p in problems])

    def observe(self, host: str, values: Mapping[str, str], *, source: str) -> None:
        """Values discovered outside a step (agent heartbeat, probe, API); unknown names/values are dropped."""
        record = self.hosts.get(host)
        if record is None:
            return
        accepted = self._valid_values(host, values, allowed=None, source=source)
        if accepted and self._set_discovered(record, accepted, source=source):
            self.queue.add(host)  # only news needs a pass: agents repeat themselves every hello

    def freeze(self, pattern: str | None) -> FreezeResult:
        """Freeze hosts matching an Ansible pattern (None: everything). Frozen hosts still record discoveries."""
        hosts = self._match(pattern)
        if pattern is None:
            self._freeze_ops = ["+all"]
        else:
            self._freeze_ops.append(f"+{pattern}")
        self._persist_freezes()
        self.journal.emit(EventKind.FROZEN, message=f"froze {len(hosts)} host(s)", pattern=pattern)
        for host in hosts:
            self.queue.add(host)
        return FreezeResult(pattern=pattern, hosts=sorted(hosts))

    def thaw(self, pattern: str | None) -> FreezeResult:
        """Thaw hosts matching a pattern (None: everything, including a global freeze); they replan."""
        before = set(self._frozen)
        if pattern is None:
            self._freeze_ops = []
        else:
            self._freeze_ops.append(f"-{pattern}")
        self._persist_freezes()
        thawed = sorted(before - self._frozen)
        self.journal.emit(EventKind.THAWED, message=f"thawed {len(thawed)} host(s)", pattern=pattern)
        for host in thawed:
            self.queue.add(host)
        return FreezeResult(pattern=pattern, hosts=thawed)

    def resync(self) -> None:
        """Queue every host: the safety net for lost events."""
        for name in self.hosts:
            self.queue.add(name)

    # -- views --------------------------------------------------------------------------------------

    def nodes(self) -> list[NodeDoc]:
        return [self._doc(record) for record in self.hosts.values()]

    def node(self, name: str) -> NodeDoc | None:
        record = self.hosts.get(name)
        return self._doc(record) if record else None

    def plan_for(self, name: str) -> Plan | None:
        record = self.hosts.get(name)
        if record is None:
            return None
        return self.planner.plan(desired=record.desired, discovered=record.discovered, config=record.config)

    def _doc(self, record: HostRecord) -> NodeDoc:
        steps = record.plan.steps if record.plan else ()
        return NodeDoc(
            name=record.name, desired=dict(record.desired), discovered=dict(record.discovered), status=record.status,
            chain=[PlannedStep.model_validate(step.to_json()) for step in steps], reason=record.reason,
            running=record.running.mutation if record.running else None,
        )

    def _snapshot(self) -> FleetSnapshot:
        counts: dict[tuple[str, str, str], int] = {}
        statuses: dict[str, int] = {status.value: 0 for status in NodeStatus}
        for record in self.hosts.values():
            statuses[record.status.value] += 1
            for kind, values in (("desired", record.desired), ("discovered", record.discovered)):
                for var, value in values.items():
                    counts[(kind, var, value)] = counts.get((kind, var, value), 0) + 1
        generation = self.generation
        return FleetSnapshot(
            values=[(k, v, x, n) for (k, v, x), n in sorted(counts.items())], statuses=statuses,
            queue_depth=len(self.queue), queue_waiting=self.queue.waiting,
            generation=generation.generation if generation else 0,
            commit=(generation.commit or "") if generation else "", dirty=bool(generation and generation.dirty),
            in_flight=sum(1 for r in self.hosts.values() if r.running),
        )

    # -- the reconcile loop ---------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            host = await self.queue.get()
            if host is None:
                return
            started = self.clock.monotonic()
            try:
                result = self._reconcile(host)
            except Exception:  # one host's bug must not stop the engine
                log.exception("event=reconcile_error host=%s", host)
                result = "error"
                self.queue.add_after(host, self.settings.backoff.cap)
            finally:
                self.queue.done(host)
            self.metrics.reconcile_total.labels(result=result).inc()
            self.metrics.reconcile_time.observe(self.clock.monotonic() - started)

    def _reconcile(self, host: str) -> str:
        """One pass for one host: re-read, plan, record the status or dispatch the first step."""
        record = self.hosts.get(host)
        if record is None or record.running is not None:
            return "skipped"  # gone, or a step is running: its completion queues the host again
        if self.prober.busy(host):
            return "probing"  # its probes' reports queue the host again
        plan = self.planner.plan(desired=record.desired, discovered=record.discovered, config=record.config)
        record.plan = plan
        if host in self._frozen:
            self._set_status(record, NodeStatus.FROZEN, "frozen by an operator; discoveries are still recorded")
            return "frozen"
        if plan.status is PlanStatus.UNMANAGED:
            self._set_status(record, NodeStatus.UNMANAGED, plan.reason)
            return "unmanaged"
        if plan.status is PlanStatus.CONVERGED:
            self._clear_backoff(host)
            self._set_status(record, NodeStatus.CONVERGED, plan.reason)
            return "converged"
        if plan.status is PlanStatus.BLOCKED:
            self._set_status(record, NodeStatus.BLOCKED, plan.reason)
            return "blocked"
        step = self.catalog.mutations[plan.steps[0].mutation]
        backoff = self._backoff.get((host, step.id))
        now = self.clock.time()
        if backoff is not None and backoff.next_at > now:
            failed = backoff.attempts >= self.settings.backoff.max_attempts
            wait = backoff.next_at - now
            self._set_status(record, NodeStatus.FAILED if failed else NodeStatus.IN_PROGRESS,
                             f"{step.id} failed {backoff.attempts} time(s), retry in {wait:.0f}s: {backoff.reason}")
            self.queue.add_after(host, wait)
            self.metrics.workqueue_retries.inc()
            return "backoff"
        if step.disruptive:
            full = self.budget.try_acquire(host)
            if full is not None:
                self._set_status(record, NodeStatus.IN_PROGRESS,
                                 f"{step.id} waits for the disruption budget of group {full}")
                self.metrics.disruption_waits.inc()
                self.queue.add_after(host, max(0.5, self.settings.batch_window))
                return "budget"
        wait = self.rate.reserve(self.clock.monotonic())
        if wait > 0:
            self.budget.release(host)
            self._set_status(record, NodeStatus.IN_PROGRESS, f"{step.id} waits for the start rate limit")
            self.queue.add_after(host, wait)
            return "rate_limited"
        self._dispatch(record, step)
        return "dispatched"

    def _set_status(self, record: HostRecord, status: NodeStatus, reason: str) -> None:
        if record.status is not status or record.reason != reason:
            previous = record.status
            record.status, record.reason = status, reason
            if previous is not status:
                self.journal.emit(EventKind.NODE_STATUS, host=record.name, message=f"{previous.value} -> "
                                  f"{status.value}" + (f": {reason}" if reason else ""), status=status.value)

    # -- batching and running -------------------------------------------------------------------------

    def _dispatch(self, record: HostRecord, step: Mutation) -> None:
        record.running = InFlight(step.id, self.clock.monotonic(), disruptive=step.disruptive)
        self._set_status(record, NodeStatus.IN_PROGRESS, f"running {step.id}")
        pending = self._pending.setdefault(step.id, [])
        pending.append(record.name)
        if len(pending) >= self.settings.max_batch:
            self._flush(step.id)
        elif step.id not in self._flush_timers:
            loop = asyncio.get_running_loop()
            self._flush_timers[step.id] = loop.call_later(self.settings.batch_window, self._flush, step.id)

    def _flush(self, mutation_id: MutationId) -> None:
        timer = self._flush_timers.pop(mutation_id, None)
        if timer is not None:
            timer.cancel()
        hosts = self._pending.pop(mutation_id, [])
        if hosts and not self._stopping:
            task = asyncio.create_task(self._run_batch(self.catalog.mutations[mutation_id], hosts))
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    async def _run_batch(self, mutation: Mutation, hosts: list[str]) -> None:
        role = mutation.role.rsplit(".", 1)[-1]
        run_id = f"{int(self.clock.time())}-{next(self._run_seq):05d}-{role}-{mutation.name}"
        started_wall = self.clock.time()
        with self.db.transaction():
            for host in hosts:
                record = self.hosts.get(host)
                if record is not None and record.running is not None:
                    record.running.run_id = run_id
                deadline = started_wall + self._run_timeout(mutation, len(hosts)) if mutation.timeout else None
                self.db.record_step_start(InFlightRecord(host, mutation.id, run_id, started_wall, deadline))
                self.journal.emit(EventKind.STEP_STARTED, host=host, mutation=mutation.id, run_id=run_id,
                                  message=mutation.summary())
        self.metrics.runner_batch.observe(len(hosts))
        started = self.clock.monotonic()
        batch = _Batch(self.queue.add, self.settings.straggler_wait)
        try:
            hostvars = await self._hostvars(hosts)
            loop = asyncio.get_running_loop()

            def progress(result: HostResult) -> None:  # scheduled: a failure here cannot break the result stream
                loop.call_soon(self._progress, mutation, run_id, result, batch)

            request = RunRequest(run_id, mutation, hostvars, timeout=self._run_timeout(mutation, len(hosts)),
                                 forks=min(self.settings.forks, len(hosts)), on_progress=progress)
            result = await self.executor.run(request, cancel=self._cancel)
            outcomes: Mapping[str, HostResult] = result.hosts
            self.metrics.runner_duration.observe(result.seconds)
        except Exception as exc:  # the runner itself broke: every host's state is unknown, retry with backoff
            log.exception("event=run_error run=%s mutation=%s", run_id, mutation.id)
            outcomes = {h: HostResult(h, HostOutcome.MISSING, {}, f"the run failed: {exc}") for h in hosts}
        seconds = self.clock.monotonic() - started
        timed_out = not self._stopping
        with self.db.transaction():
            for host in hosts:
                if host in batch.finished:
                    continue
                outcome = outcomes.get(host) or HostResult(host, HostOutcome.MISSING, {}, "not in the run's results")
                self._complete(host, mutation, outcome, run_id=run_id, seconds=seconds,
                               timed_out=timed_out and outcome.outcome is HostOutcome.CANCELLED, batch=batch)
        batch.release_all()

    def _run_timeout(self, step: Step, hosts: int) -> float:
        """A batched run's deadline: the step's timeout, plus ansible's start-up and per-host work (0 = none).

        The timeout in the metadata is what the step (mutation or probe) may take on one node; one run serves
        a whole batch, and the controller's work grows with it.
        """
        if not step.timeout:
            return 0.0
        return step.timeout + self.settings.timeout_grace + self.settings.timeout_grace_per_host * hosts

    def _progress(self, mutation: Mutation, run_id: str, result: HostResult, batch: _Batch) -> None:
        """A host's news mid-run: its step is done once it reported the ``to`` values, or failed.

        Roles report last (``kraken.core.discover`` is their final task), so the host can go on to its
        next step while slower batch-mates are still running.
        """
        host = result.host
        record = self.hosts.get(host)
        if host in batch.finished or record is None or record.running is None or record.running.run_id != run_id:
            return
        reached = all(result.discovered.get(var) == to for var, (_, to) in mutation.mutates.items())
        if reached or result.outcome is not HostOutcome.OK:
            batch.finished.add(host)
            seconds = self.clock.monotonic() - record.running.started
            self._complete(host, mutation, result, run_id=run_id, seconds=seconds, timed_out=False, batch=batch)

    def _complete(self, host: str, mutation: Mutation, result: HostResult, *, run_id: str, seconds: float,
                  timed_out: bool, batch: _Batch | None = None) -> None:
        """Map one host's outcome of a step to what happens next (the engine's one such place)."""
        record = self.hosts.get(host)
        self.budget.release(host)
        self.db.record_step_end(host)
        if record is None:
            return  # the host left the inventory while its step ran
        record.running = None
        if self._stopping and result.outcome is HostOutcome.CANCELLED:
            return  # shut down mid-step: the next start replans from what was discovered
        self.metrics.mutation_runs.labels(mutation=mutation.id, outcome=result.outcome.value).inc()
        self.metrics.mutation_duration.labels(mutation=mutation.id).observe(seconds)
        role = self.catalog.roles[mutation.role]
        accepted = self._valid_values(host, result.discovered, allowed=role.discovers, source=f"run {run_id}")
        if accepted:
            self._set_discovered(record, accepted, source=f"{mutation.id} (run {run_id})")
        observed = {var: record.discovered.get(var, self.catalog.variables[var].zero) for var in mutation.mutates}
        reached = all(observed[var] == to for var, (_, to) in mutation.mutates.items())
        if reached:  # observed is what counts, even if the run was stopped after the host got there
            self._clear_backoff(host, mutation.id)
            self.journal.emit(EventKind.STEP_SUCCEEDED, host=host, mutation=mutation.id, run_id=run_id,
                              message=mutation.summary(), seconds=round(seconds, 3))
        elif timed_out:
            self.metrics.timeouts.labels(mutation=mutation.id).inc()
            self.journal.emit(EventKind.STEP_TIMEOUT, host=host, mutation=mutation.id, run_id=run_id,
                              message=f"timed out after {mutation.timeout:g}s; recording "
                                      + ", ".join(f"{k}={v}" for k, v in mutation.failto.items()),
                              failto=dict(mutation.failto))
            self._set_discovered(record, dict(mutation.failto), source=f"failto of {mutation.id}")
            self._interrupt(host, mutation)
            self._fail(record, mutation, f"timed out after {mutation.timeout:g}s (run {run_id})")
        elif result.outcome is HostOutcome.OK and any(observed[v] != f for v, (f, _) in mutation.mutates.items()):
            self._clear_backoff(host, mutation.id)
            seen = ", ".join(f"{k}={v}" for k, v in observed.items())
            self.journal.emit(EventKind.STEP_SUCCEEDED, host=host, mutation=mutation.id, run_id=run_id,
                              message=f"observed {seen} instead; replanning", seconds=round(seconds, 3))
        else:
            reason = result.message if result.outcome is not HostOutcome.OK else (
                "the role finished but did not report "
                + ", ".join(f"{v}={to}" for v, (_, to) in mutation.mutates.items()))
            self._fail(record, mutation, f"{result.outcome.value}: {reason} (run {run_id})")
            return
        if batch is not None:
            batch.next_step(host)
        else:
            self.queue.add(host)

    def _fail(self, record: HostRecord, mutation: Mutation, reason: str) -> None:
        key = (record.name, mutation.id)
        previous = self._backoff.get(key)
        attempts = (previous.attempts if previous else 0) + 1
        limit = self.settings.backoff.max_attempts
        delay = self.settings.backoff.cap if attempts >= limit else self.backoff_policy.delay(attempts, self._rng)
        entry = BackoffRecord(record.name, mutation.id, attempts, self.clock.time() + delay, reason)
        self._backoff[key] = entry
        self.db.set_backoff(entry)
        self.journal.emit(EventKind.STEP_FAILED, host=record.name, mutation=mutation.id, message=reason,
                          attempts=attempts, retry_in=round(delay, 1))
        status = NodeStatus.FAILED if attempts >= limit else NodeStatus.IN_PROGRESS
        self._set_status(record, status, f"{mutation.id} failed {attempts} time(s), retry in {delay:.0f}s: {reason}")
        self.queue.add_after(record.name, delay)
        self.metrics.workqueue_retries.inc()

    def _clear_backoff(self, host: str, mutation: MutationId | None = None) -> None:
        keys = [k for k in self._backoff if k[0] == host and (mutation is None or k[1] == mutation)]
        for key in keys:
            del self._backoff[key]
        if keys:
            self.db.clear_backoff(host, mutation)

    def _interrupt(self, host: str, mutation: Mutation) -> None:
        """Tell the role its step was abandoned, by running its ``interrupt`` entry point if it has one."""
        tasks = mutation.tasks_file.parent / "interrupt.yml"
        inventory = self.inventory
        if not tasks.is_file() or inventory is None or self._stopping:
            return
        hook = dataclasses.replace(mutation, id=MutationId(f"{mutation.role}:interrupt"), name="interrupt",
                                   tasks_file=tasks, timeout=_INTERRUPT_TIMEOUT)
        run_id = f"{int(self.clock.time())}-{next(self._run_seq):05d}-interrupt"

        async def run() -> None:
            hostvars = await asyncio.to_thread(inventory.hostvars, host)
            await self.executor.run(RunRequest(run_id, hook, {host: hostvars}), cancel=self._cancel)

        task = asyncio.create_task(run())
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    # -- discovered state -----------------------------------------------------------------------------

    def _valid_values(self, host: str, values: Mapping[str, str], *, allowed: Iterable[str] | None,
                      source: str) -> dict[str, str]:
        """The reported values this source may report; the rest are dropped, counted and journaled."""
        allowed_set = set(allowed) if allowed is not None else None
        accepted: dict[str, str] = {}
        for var, value in values.items():
            spec = self.catalog.variables.get(var)
            problem = None
            if spec is None or not spec.is_enum:
                problem = f"{var} is not an enum state variable"
            elif allowed_set is not None and var not in allowed_set:
                problem = f"{source} may not report {var}"
            elif value not in spec.values:
                problem = f"{value!r} is not a value of {var}"
            if problem:
                self.metrics.discoveries_rejected.inc()
                self.journal.emit(EventKind.DISCOVERY_REJECTED, host=host, message=problem, source=source)
            else:
                accepted[var] = value
        return accepted

    def _set_discovered(self, record: HostRecord, values: Mapping[str, str], *, source: str) -> bool:
        """Merge reported values into the host's known state; True if anything changed."""
        merged = self.graph.forget_unknowables({**record.discovered, **values})
        known = {k: v for k, v in merged.items() if v != self.catalog.variables[k].zero}
        if known == record.discovered:
            return False
        changes = {k: [record.discovered.get(k), known.get(k)] for k in set(known) | set(record.discovered)
                   if record.discovered.get(k) != known.get(k)}
        before, record.discovered = record.discovered, known
        self.db.set_discovered(record.name, known, at=self.clock.time())
        self._probe(record, unless_applicable_in=before)
        self.journal.emit(EventKind.DISCOVERED, host=record.name, message=", ".join(
            f"{k}={v[1] or 'UNKNOWN'}" for k, v in sorted(changes.items())), source=source, changes=changes)
        return True

    # -- probes of agentless hosts -------------------------------------------------------------------

    def _probe(self, record: HostRecord, *, unless_applicable_in: Mapping[str, str] | None = None) -> None:
        """Ask for the host's applicable probes (only those that did not apply to ``unless_applicable_in``)."""
        if not record.agentless or record.running is not None or self._stopping:
            return
        probes = applicable_probes(self.prober.probes, record.discovered, record.config)
        if unless_applicable_in is not None:
            before = {p.id for p in applicable_probes(probes, unless_applicable_in, record.config)}
            probes = [p for p in probes if p.id not in before]
        self.prober.request(record.name, probes)

    def _probed(self, host: str, probe: Probe, result: HostResult, run_id: str) -> None:
        """A probe's news for one host: what it observed is discovered state; a failure changes nothing."""
        record = self.hosts.get(host)
        if record is None or (self._stopping and result.outcome is HostOutcome.CANCELLED):
            return
        self.metrics.probe_runs.labels(probe=probe.id, outcome=result.outcome.value).inc()
        source = f"{probe.id} (run {run_id})"
        accepted = self._valid_values(host, result.discovered, allowed=probe.reports, source=source)
        if accepted:
            self._set_discovered(record, accepted, source=source)
        if result.outcome is not HostOutcome.OK:
            self.journal.emit(EventKind.PROBE_FAILED, host=host, mutation=probe.id, run_id=run_id,
                              message=f"{result.outcome.value}: {result.message or 'no report'}; known values kept")
        self.queue.add(host)

    def _probe_round(self) -> None:
        """Probe every agentless host that has nothing to do (every ``probe_interval``)."""
        for record in list(self.hosts.values()):
            if self._settled(record):
                self._probe(record)

    def _settled(self, record: HostRecord) -> bool:
        """No step is running, due or waiting for this host (frozen hosts count as settled).

        A host with steps ahead learns its state from them; probing it would only hold its next step.
        """
        if record.running is not None or self.prober.busy(record.name):
            return False
        plan = self.planner.plan(desired=record.desired, discovered=record.discovered, config=record.config)
        return plan.status is not PlanStatus.PLANNED or record.name in self._frozen

    async def _hostvars(self, hosts: list[str]) -> dict[str, dict[str, Any]]:
        inventory = self.inventory
        return {} if inventory is None else await asyncio.to_thread(_hostvars, inventory, hosts)

    # -- freezes and groups ------------------------------------------------------------------------------

    def _match(self, pattern: str | None) -> set[str]:
        if pattern is None or pattern == "all":
            return set(self.hosts)
        inventory = self.inventory
        if inventory is None or inventory.ansible is None:
            return {pattern} & set(self.hosts)
        try:
            return set(inventory.ansible.host_names(pattern)) & set(self.hosts)
        except Exception:  # a pattern that matches nothing is not an error for freeze/thaw
            return set()

    def _recompute_frozen(self) -> None:
        frozen: set[str] = set()
        for op in self._freeze_ops:
            matched = self._match(op[1:])
            frozen = frozen | matched if op[0] == "+" else frozen - matched
        self._frozen = frozen

    def _persist_freezes(self) -> None:
        self._recompute_frozen()
        global_frozen = bool(self._freeze_ops) and self._freeze_ops[0] == "+all"
        self.db.set_freezes(global_frozen=global_frozen,
                            patterns=self._freeze_ops[1:] if global_frozen else self._freeze_ops)

    def is_frozen(self, host: str) -> bool:
        return host in self._frozen

    def _members(self, group: str) -> set[str]:
        if group not in self._group_members:
            self._group_members[group] = self._match(group)
        return self._group_members[group]

    def _groups_of(self, host: str) -> list[str]:
        return [g for g in self.settings.disruption_budget if g == "all" or host in self._members(g)]

    def _group_size(self, group: str) -> int:
        return len(self.hosts) if group == "all" else len(self._members(group))

    # -- background ---------------------------------------------------------------------------------------

    async def _every(self, interval: float, jitter: float, action: Callable[[], object]) -> None:
        """Run ``action`` every ``interval`` seconds, ± ``jitter`` of it (so replicas and rounds do not align)."""
        while True:
            await asyncio.sleep(interval * (1 + self._rng.uniform(-jitter, jitter)))
            action()

    def _prune(self) -> None:
        """Keep the journal within its retention (at start, then hourly, whatever else is configured)."""
        self.db.prune_events(now=self.clock.time())


def _hostvars(inventory: InventoryState, hosts: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Resolved variables of the hosts still in the inventory (ansible-core work: run it off the loop)."""
    return {h: inventory.hostvars(h) for h in hosts if h in inventory.hosts}
