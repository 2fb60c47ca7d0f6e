"""The ansible-runner seam: run one mutation for a batch of hosts and say what happened to each.

This is the only module that imports ``ansible_runner``. A run gets a private data dir (0700: the
inventory in it holds hostvars) under ``<work>/runs/<run id>/``, kept as the operator's record
(``artifacts/<run id>/stdout``) and pruned to the newest ``keep_runs``. Per-host outcomes come from the
lines the ``kraken.core.reconciler`` callback streams while the run goes on
(:mod:`reconciler.engine.resultstream`), never from the exit code: one host's failure does not fail its
batch-mates, and a host with no final tally is ``MISSING`` (its state must be re-observed), never a success.

Cancellation (timeout or shutdown) kills ansible-playbook's process group *and* every process that
carries the run's ``KRAKEN_RUN_ID`` in its environment: ansible's workers call ``setsid()``, so module
children escape the group (measured, see shared/reference/ansible-facts.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from reconciler.engine.play import build_inventory, build_play
from reconciler.engine.resultstream import open_result_stream
from reconciler.model.catalog import Step
from reconciler.model.runrecords import Record, ResultRecord, ResultStatus, StatsRecord
from reconciler.model.sources import CollectionSource

__all__ = ["AnsibleRunnerExecutor", "Executor", "HostOutcome", "HostResult", "RunRequest", "RunResult"]

log = logging.getLogger(__name__)


class HostOutcome(StrEnum):
    OK = "ok"  # the play finished on the host without failure
    FAILED = "failed"  # a task failed
    UNREACHABLE = "unreachable"  # ansible could not connect
    CANCELLED = "cancelled"  # the run was stopped (timeout or shutdown) before the host finished
    MISSING = "missing"  # the host produced no terminal event: state unknown, re-observe


@dataclass(frozen=True)
class RunRequest:
    """One step (a mutation's or a probe's entry point) for a batch of hosts."""

    run_id: str
    step: Step
    hostvars: Mapping[str, Mapping[str, Any]]  # host -> resolved inventory variables
    timeout: float | None = None  # seconds; None = the step's own timeout (0 = none)
    forks: int | None = None  # default: the batch size
    # Called in the event loop, as the callback's lines arrive, once a host reports values (OK, values so far) or
    # fails or is unreachable, so the engine can finish that host's step without waiting for its
    # slowest batch-mate (the play runs with the free strategy: a failed host gets no further tasks).
    on_progress: Callable[[HostResult], None] | None = None


@dataclass(frozen=True)
class HostResult:
    host: str
    outcome: HostOutcome
    discovered: Mapping[str, str] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True)
class RunResult:
    run_id: str
    status: str  # ansible-runner's: successful, failed, timeout, canceled
    rc: int | None
    seconds: float
    hosts: Mapping[str, HostResult]
    record: Path  # the run's private data dir (stdout under artifacts/<run id>/)


class Executor(Protocol):
    """Runs steps; the engine depends on this, tests may pass a real-but-small implementation."""

    async def run(self, request: RunRequest, *, cancel: asyncio.Event | None = None) -> RunResult: ...


class AnsibleRunnerExecutor:
    """Runs steps with ansible-runner, at most ``max_concurrent`` at a time."""

    def __init__(self, work_dir: Path, collections: Sequence[CollectionSource], *, max_concurrent: int = 4,
                 keep_runs: int = 200, envvars: Mapping[str, str] | None = None) -> None:
        self.work_dir = work_dir
        self.runs_dir = work_dir / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.keep_runs = keep_runs
        self._slots = asyncio.Semaphore(max_concurrent)
        self.environment = _ansible_environment(work_dir, collections, envvars or {})
        """What every run's ansible-playbook gets: our collections and callback, a private ANSIBLE_HOME."""

    async def run(self, request: RunRequest, *, cancel: asyncio.Event | None = None) -> RunResult:
        async with self._slots:
            collector = _ResultCollector(request.hostvars, request.on_progress)
            stop = threading.Event()
            watcher = asyncio.create_task(_relay(cancel, stop)) if cancel is not None else None
            try:
                async with open_result_stream(request.run_id, collector.consume) as stream:
                    process = await asyncio.to_thread(self._run_blocking, request, stop, stream.environment)
                    drained = await stream.drained(_DRAIN_SECONDS)
                    reported = stream.started
                    if reported and not drained:
                        log.warning("run=%s the result stream stayed open after the run ended", request.run_id)
            finally:
                if watcher is not None:
                    watcher.cancel()
                self._prune()
        if not reported and not process.cancelled:
            log.error("run=%s the kraken.core.reconciler callback reported nothing (is kraken.core in the "
                      "collections path?); see %s", request.run_id, process.data_dir)
        results = collector.results(cancelled=process.cancelled, reported=reported)
        log.info("run=%s step=%s hosts=%d status=%s rc=%s seconds=%.2f", request.run_id, request.step.id,
                 len(request.hostvars), process.status, process.rc, process.seconds)
        return RunResult(request.run_id, process.status, process.rc, process.seconds, results, process.data_dir)

    # -- the blocking part, in a worker thread --------------------------------------------------

    def _run_blocking(self, request: RunRequest, stop: threading.Event, stream_env: Mapping[str, str]) -> _Process:
        import ansible_runner

        data_dir = self.runs_dir / request.run_id
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=False)
        timeout = request.timeout if request.timeout is not None else request.step.timeout
        deadline = time.monotonic() + timeout if timeout else None
        started = time.monotonic()
        cancelled = threading.Event()

        def should_cancel() -> bool:
            if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                if not cancelled.is_set():
                    cancelled.set()
                    _kill_run_processes(request.run_id)
                return True
            return False

        runner = ansible_runner.run(
            private_data_dir=str(data_dir),
            ident=request.run_id,
            playbook=build_play(request.step),
            inventory=build_inventory(request.step, request.hostvars),
            envvars={**self.environment, **stream_env},
            forks=max(1, request.forks or len(request.hostvars)),
            quiet=True,
            event_handler=_skip_event_files,
            cancel_callback=should_cancel,
            settings={"pexpect_timeout": 0.2},
            rotate_artifacts=0,
        )
        if cancelled.is_set():
            _kill_run_processes(request.run_id)  # whatever escaped the process group meanwhile
        return _Process(runner.status, runner.rc, time.monotonic() - started, cancelled.is_set(), data_dir)

    def _prune(self) -> None:
        runs = sorted((p for p in self.runs_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in runs[: max(0, len(runs) - self.keep_runs)]:
            shutil.rmtree(old, ignore_errors=True)


# After ansible-playbook exits, its last lines may still wait in the socket: this long at most.
_DRAIN_SECONDS = 3.0


@dataclass(frozen=True)
class _Process:
    status: str
    rc: int | None
    seconds: float
    cancelled: bool
    data_dir: Path


def _skip_event_files(_event: dict[str, Any]) -> bool:
    """Per-host results come from our callback's stream; runner need not write an event file per event."""
    return False


class _ResultCollector:
    """Turns the callback's records into per-host outcomes and discoveries."""

    def __init__(self, hosts: Iterable[str], on_progress: Callable[[HostResult], None] | None = None) -> None:
        self._hosts = list(hosts)
        self._on_progress = on_progress
        self._failed: dict[str, str] = {}
        self._unreachable: dict[str, str] = {}
        self._discovered: dict[str, dict[str, str]] = {}
        self._processed: set[str] = set()

    def consume(self, record: Record) -> None:
        progress = None
        if isinstance(record, ResultRecord) and record.host in self._hosts:
            host = record.host
            if record.status is ResultStatus.OK and record.discovered:
                values = self._discovered.setdefault(host, {})
                values.update(record.discovered)
                progress = HostResult(host, HostOutcome.OK, dict(values))
            elif record.status is ResultStatus.FAILED and not record.ignored:
                self._failed[host] = record.message or "failed"
                progress = HostResult(host, HostOutcome.FAILED, dict(self._discovered.get(host, {})),
                                      self._failed[host])
            elif record.status is ResultStatus.UNREACHABLE:
                self._unreachable[host] = record.message or "unreachable"
                progress = HostResult(host, HostOutcome.UNREACHABLE, {}, self._unreachable[host])
        elif isinstance(record, StatsRecord):
            self._processed.update(record.hosts)
        if progress is not None and self._on_progress is not None:
            self._on_progress(progress)

    def results(self, *, cancelled: bool, reported: bool) -> dict[str, HostResult]:
        out = {}
        for host in self._hosts:
            discovered = self._discovered.get(host, {})
            if host in self._unreachable:
                out[host] = HostResult(host, HostOutcome.UNREACHABLE, discovered, self._unreachable[host])
            elif host in self._failed:
                out[host] = HostResult(host, HostOutcome.FAILED, discovered, self._failed[host])
            elif host in self._processed:
                out[host] = HostResult(host, HostOutcome.OK, discovered)
            elif cancelled:
                out[host] = HostResult(host, HostOutcome.CANCELLED, discovered, "the run was stopped")
            elif not reported:
                out[host] = HostResult(host, HostOutcome.MISSING, discovered,
                                       "the kraken.core.reconciler callback reported nothing for this run")
            else:
                out[host] = HostResult(host, HostOutcome.MISSING, discovered, "no result from ansible for this host")
        return out


async def _relay(cancel: asyncio.Event, stop: threading.Event) -> None:
    await cancel.wait()
    stop.set()


def _kill_run_processes(run_id: str) -> None:
    """SIGKILL every process whose environment carries ``KRAKEN_RUN_ID=<run_id>`` (not ourselves)."""
    marker = f"KRAKEN_RUN_ID={run_id}".encode()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue  # gone already, or not ours to read


def _ansible_environment(work_dir: Path, collections: Sequence[CollectionSource],
                         extra: Mapping[str, str]) -> dict[str, str]:
    """Environment of every run: our collections, a private ANSIBLE_HOME/tmp, no user ansible.cfg."""
    farm = work_dir / "collections" / "ansible_collections"
    for source in collections:
        link = farm / source.namespace / source.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and link.resolve() != source.root.resolve():
            link.unlink()
        if not link.exists():
            link.symlink_to(source.root.resolve(), target_is_directory=True)
    home = work_dir / "ansible-home"
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    config = work_dir / "ansible.cfg"
    if not config.exists():
        config.write_text("[defaults]\nhost_key_checking = False\nretry_files_enabled = False\n")
    # ansible-playbook from the same installation as the reconciler, whatever PATH the service got
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
    return {
        "PATH": path,
        "ANSIBLE_COLLECTIONS_PATH": str(farm.parent),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TMP": str(home / "remote-tmp"),
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_CALLBACKS_ENABLED": "kraken.core.reconciler",
        **extra,
    }
