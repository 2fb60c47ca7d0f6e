"""The ansible-runner seam: run one mutation for a batch of hosts and say what happened to each.

This is the only module that imports ``ansible_runner``. A run gets a private data dir (0700: the
inventory in it holds hostvars) under ``<work>/runs/<run id>/``, kept as the operator's record
(``artifacts/<run id>/stdout``) and pruned to the newest ``keep_runs``. Per-host outcomes come from the
run's events, never from its exit code: one host's failure does not fail its batch-mates, and a host
with no terminal event is ``MISSING`` (its state must be re-observed), never a success.

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
from reconciler.model.catalog import Mutation
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
    """One mutation for a batch of hosts."""

    run_id: str
    mutation: Mutation
    hostvars: Mapping[str, Mapping[str, Any]]  # host -> resolved inventory variables
    timeout: float | None = None  # seconds; None = the mutation's own timeout (0 = none)
    forks: int | None = None  # default: the batch size
    # Called from the runner's thread as soon as a host reports values (outcome OK, values so far) or
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
        """What every run's ansible-playbook gets: our collections, a private ANSIBLE_HOME, no user config."""

    async def run(self, request: RunRequest, *, cancel: asyncio.Event | None = None) -> RunResult:
        async with self._slots:
            stop = threading.Event()
            watcher = asyncio.create_task(_relay(cancel, stop)) if cancel is not None else None
            try:
                return await asyncio.to_thread(self._run_blocking, request, stop)
            finally:
                if watcher is not None:
                    watcher.cancel()
                self._prune()

    # -- the blocking part, in a worker thread --------------------------------------------------

    def _run_blocking(self, request: RunRequest, stop: threading.Event) -> RunResult:
        import ansible_runner

        data_dir = self.runs_dir / request.run_id
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=False)
        timeout = request.timeout if request.timeout is not None else request.mutation.timeout
        deadline = time.monotonic() + timeout if timeout else None
        collector = _EventCollector(request.hostvars, request.on_progress)
        started = time.monotonic()
        cancelled = threading.Event()

        def should_cancel() -> bool:
            if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                if not cancelled.is_set():
                    cancelled.set()
                    _kill_run_processes(request.run_id)
                return True
            return False

        env = {**self.environment, "KRAKEN_RUN_ID": request.run_id}
        runner = ansible_runner.run(
            private_data_dir=str(data_dir),
            ident=request.run_id,
            playbook=build_play(request.mutation),
            inventory=build_inventory(request.mutation, request.hostvars),
            envvars=env,
            forks=max(1, request.forks or len(request.hostvars)),
            quiet=True,
            event_handler=collector.handle,
            cancel_callback=should_cancel,
            settings={"pexpect_timeout": 0.2},
            rotate_artifacts=0,
        )
        if cancelled.is_set():
            _kill_run_processes(request.run_id)  # whatever escaped the process group meanwhile
        seconds = time.monotonic() - started
        results = collector.results(cancelled=cancelled.is_set())
        log.info("run=%s mutation=%s hosts=%d status=%s rc=%s seconds=%.2f", request.run_id, request.mutation.id,
                 len(request.hostvars), runner.status, runner.rc, seconds)
        return RunResult(request.run_id, runner.status, runner.rc, seconds, results, data_dir)

    def _prune(self) -> None:
        runs = sorted((p for p in self.runs_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for old in runs[: max(0, len(runs) - self.keep_runs)]:
            shutil.rmtree(old, ignore_errors=True)


class _EventCollector:
    """Turns runner events into per-host outcomes and discoveries, in memory (no job_events files)."""

    def __init__(self, hosts: Iterable[str], on_progress: Callable[[HostResult], None] | None = None) -> None:
        self._hosts = list(hosts)
        self._on_progress = on_progress
        self._failed: dict[str, str] = {}
        self._unreachable: dict[str, str] = {}
        self._discovered: dict[str, dict[str, str]] = {}
        self._processed: set[str] = set()
        self._lock = threading.Lock()

    def handle(self, event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        host = data.get("host")
        result = data.get("res") or {}
        progress = None
        with self._lock:
            if kind == "runner_on_ok" and host:
                found = result.get("kraken_discovered")
                if isinstance(found, dict):
                    values = self._discovered.setdefault(host, {})
                    values.update({str(k): str(v) for k, v in found.items()})
                    progress = HostResult(host, HostOutcome.OK, dict(values))
            elif kind == "runner_on_failed" and host and not data.get("ignore_errors"):
                self._failed[host] = _message(result)
                found_so_far = dict(self._discovered.get(host, {}))
                progress = HostResult(host, HostOutcome.FAILED, found_so_far, self._failed[host])
            elif kind == "runner_on_unreachable" and host:
                self._unreachable[host] = _message(result)
                progress = HostResult(host, HostOutcome.UNREACHABLE, {}, self._unreachable[host])
            elif kind == "playbook_on_stats":
                for key in ("ok", "failures", "dark", "skipped", "changed", "rescued", "ignored"):
                    self._processed.update((data.get(key) or {}).keys())
        if progress is not None and self._on_progress is not None:
            self._on_progress(progress)
        return False  # consumed here; the run's stdout file is the operator's record

    def results(self, *, cancelled: bool) -> dict[str, HostResult]:
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
            else:
                out[host] = HostResult(host, HostOutcome.MISSING, discovered, "no result from ansible for this host")
        return out


def _message(result: Mapping[str, Any]) -> str:
    message = str(result.get("msg") or result.get("stderr") or result.get("reason") or "failed")
    return message.strip().splitlines()[0][:500] if message.strip() else "failed"


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
        **extra,
    }
