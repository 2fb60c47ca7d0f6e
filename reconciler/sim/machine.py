"""One simulated machine: chassis power, the boot step, the "OS" child process and the fault knobs.

The BMC front ends (:mod:`~reconciler.sim.bmc_ipmi`, :mod:`~reconciler.sim.bmc_redfish`) translate
protocol requests into calls on a :class:`Machine`; the machine owns everything that really happens:

* power-on runs the boot step: read ``<tftp_root>/pxelinux.cfg/01-<mac>`` (format in
  :mod:`~reconciler.sim.bootfile`) and start the command it names as the node's OS, in its own
  session and process group, with its console (stdout/stderr) appended to ``<node_dir>/console.log``,
  its kernel command line in ``<node_dir>/cmdline`` and the environment variables
  ``KRAKEN_SIM_NODE``, ``KRAKEN_SIM_MAC``, ``KRAKEN_SIM_CMDLINE`` (that file) and ``KRAKEN_SIM_NODE_DIR``;
* power-off kills the OS's whole process group (SIGKILL); a graceful shutdown sends SIGTERM to the group
  and turns the power off once the OS has exited or ``graceful_timeout`` has passed;
* every change is recorded in ``<node_dir>/state.json`` (the :class:`~reconciler.sim.state.NodeState`
  as JSON), so a test in another process can read the boot outcome and its reason.

All simulated nodes boot from the network whatever boot device is set (they have no disks); the boot
device is only stored and reported back, as a BMC does.

Thread safety: every public method may be called from any thread (BMC loop, Redfish request threads,
control endpoint); state lives behind one re-entrant lock per machine.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from reconciler.sim.bootfile import BootConfig, load_bootfile, normalize_mac
from reconciler.sim.errors import BootFileBroken, BootFileMissing
from reconciler.sim.state import BootOutcome, Fault, NodeState, OsState, PowerState

__all__ = ["BOOT_DEVICES", "Machine"]

log = logging.getLogger(__name__)

BOOT_DEVICES = ("default", "network", "hd", "safe", "optical", "setup", "floppy")
_KILL_WAIT = 5.0


class Machine:
    """A simulated machine whose power starts and stops a real child process."""

    def __init__(
        self,
        *,
        name: str,
        mac: str,
        node_dir: Path,
        tftp_root: Path,
        graceful_timeout: float = 5.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.mac = normalize_mac(mac)
        self.node_dir = Path(node_dir)
        self.tftp_root = Path(tftp_root)
        self.graceful_timeout = graceful_timeout
        self._extra_env = dict(extra_env or {})
        self._lock = threading.RLock()
        self._power = PowerState.OFF
        self._boot_device = "default"
        self._boot_outcome = BootOutcome.NONE
        self._boot_reason = ""
        self._boot_count = 0
        self._os_state = OsState.STOPPED
        self._proc: subprocess.Popen[bytes] | None = None
        self._os_pgid: int | None = None
        self._os_exit_code: int | None = None
        self._faults: set[Fault] = set()
        self._generation = 0
        self._closed = False
        self._waiters: list[threading.Thread] = []
        self.node_dir.mkdir(parents=True, exist_ok=True)
        self._write_state_locked()

    # ------------------------------------------------------------------ reading

    @property
    def state_file(self) -> Path:
        """Where the node's state is recorded as JSON after every change."""
        return self.node_dir / "state.json"

    @property
    def console_log(self) -> Path:
        """The OS's stdout and stderr, appended across boots."""
        return self.node_dir / "console.log"

    def state(self) -> NodeState:
        """A consistent snapshot (notices an OS that exited on its own)."""
        with self._lock:
            self._poll_locked()
            return self._snapshot_locked()

    def has_fault(self, fault: Fault) -> bool:
        """Whether the fault knob is set (cheap; called for every BMC request)."""
        return fault in self._faults

    @property
    def power(self) -> PowerState:
        return self._power

    @property
    def boot_device(self) -> str:
        return self._boot_device

    def refresh(self) -> None:
        """Notice an OS process that exited by itself; called periodically by the supervisor."""
        with self._lock:
            self._poll_locked()

    # ------------------------------------------------------------------ power

    def power_on(self) -> None:
        """Press power on: if the machine is off, turn it on and boot."""
        with self._lock:
            if self._refuse_power_locked("power_on") or self._power is PowerState.ON:
                return
            self._power = PowerState.ON
            log.info("event=sim.power node=%s power=on", self.name)
            self._boot_locked()
            self._write_state_locked()

    def power_off(self) -> None:
        """Pull the plug: kill the OS process group and turn the power off."""
        with self._lock:
            if self._refuse_power_locked("power_off") or self._power is PowerState.OFF:
                return
            self._halt_locked()
            log.info("event=sim.power node=%s power=off", self.name)
            self._write_state_locked()

    def power_cycle(self) -> None:
        """Power off (if on), then on again; boots a fresh OS."""
        with self._lock:
            if self._refuse_power_locked("power_cycle"):
                return
            if self._power is PowerState.ON:
                self._halt_locked()
            self._power = PowerState.ON
            log.info("event=sim.power node=%s power=cycle", self.name)
            self._boot_locked()
            self._write_state_locked()

    def reset(self) -> None:
        """Hard reset: kill the OS and boot again with power kept on (no effect while off)."""
        with self._lock:
            if self._refuse_power_locked("reset") or self._power is PowerState.OFF:
                return
            self._kill_os_locked(OsState.STOPPED)
            log.info("event=sim.power node=%s power=reset", self.name)
            self._boot_locked()
            self._write_state_locked()

    def shutdown(self) -> None:
        """Graceful shutdown: SIGTERM the OS; power goes off when it has exited or after the timeout."""
        with self._lock:
            if self._refuse_power_locked("shutdown") or self._power is PowerState.OFF:
                return
            proc = self._proc
            if proc is None or proc.poll() is not None:
                self._halt_locked()
                self._write_state_locked()
                return
            generation = self._generation
            self._signal_os_locked(signal.SIGTERM)
            log.info(
                "event=sim.shutdown node=%s pid=%s timeout=%s", self.name, proc.pid, self.graceful_timeout
            )
            waiter = threading.Thread(
                target=self._finish_shutdown, args=(proc, generation), name=f"sim-shutdown-{self.name}",
                daemon=True,
            )
            self._waiters = [t for t in self._waiters if t.is_alive()] + [waiter]
            waiter.start()

    def set_boot_device(self, device: str) -> None:
        """Store the boot device (one of :data:`BOOT_DEVICES`); nodes netboot whatever it says."""
        if device not in BOOT_DEVICES:
            raise ValueError(f"unknown boot device {device!r}; expected one of {', '.join(BOOT_DEVICES)}")
        with self._lock:
            self._boot_device = device
            self._write_state_locked()

    # ------------------------------------------------------------------ faults

    def set_fault(self, fault: Fault) -> None:
        """Set a fault knob (see :class:`~reconciler.sim.state.Fault` for what each does)."""
        with self._lock:
            self._faults.add(fault)
            log.info("event=sim.fault node=%s fault=%s action=set", self.name, fault.value)
            if fault is Fault.OS_CRASH and self._proc is not None and self._proc.poll() is None:
                self._kill_os_locked(OsState.CRASHED)
                self._boot_reason = "fault injected: os_crash"
            self._write_state_locked()

    def clear_fault(self, fault: Fault) -> None:
        """Clear a fault knob; state it caused (a crashed OS, a failed boot) stays until the next boot."""
        with self._lock:
            self._faults.discard(fault)
            log.info("event=sim.fault node=%s fault=%s action=clear", self.name, fault.value)
            self._write_state_locked()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Kill the OS process group and forget it; the machine ends powered off. Idempotent."""
        with self._lock:
            self._closed = True
            self._generation += 1
            self._kill_os_locked(OsState.STOPPED)
            self._power = PowerState.OFF
            self._write_state_locked()
            waiters = list(self._waiters)
        for waiter in waiters:
            waiter.join(timeout=_KILL_WAIT)

    # ------------------------------------------------------------------ internals

    def _refuse_power_locked(self, action: str) -> bool:
        if self._closed:
            return True
        if Fault.POWER_STUCK in self._faults:
            log.info("event=sim.power_ignored node=%s action=%s fault=power_stuck", self.name, action)
            return True
        return False

    def _halt_locked(self) -> None:
        self._kill_os_locked(OsState.STOPPED)
        self._power = PowerState.OFF
        self._boot_outcome = BootOutcome.NONE
        self._boot_reason = ""

    def _boot_locked(self) -> None:
        self._generation += 1
        self._boot_count += 1
        self._os_exit_code = None
        self._os_state = OsState.STOPPED
        outcome, reason, config = self._read_bootfile_locked()
        if config is not None and Fault.OS_CRASH in self._faults:
            outcome, reason = BootOutcome.BOOTED, "fault injected: os_crash"
            self._os_state = OsState.CRASHED
        elif config is not None:
            try:
                self._start_os_locked(config)
            except OSError as exc:
                outcome, reason = BootOutcome.EXEC_FAILED, f"cannot start {config.exec_argv[0]!r}: {exc}"
        self._boot_outcome, self._boot_reason = outcome, reason
        log.info(
            "event=sim.boot node=%s outcome=%s pid=%s reason=%s",
            self.name, outcome.value, self._os_pgid, json.dumps(reason),
        )

    def _read_bootfile_locked(self) -> tuple[BootOutcome, str, BootConfig | None]:
        if Fault.BOOTFILE_MISSING in self._faults:
            return BootOutcome.BOOTFILE_MISSING, "fault injected: bootfile_missing", None
        if Fault.BOOTFILE_BROKEN in self._faults:
            return BootOutcome.BOOTFILE_BROKEN, "fault injected: bootfile_broken", None
        try:
            config = load_bootfile(self.tftp_root, self.mac)
        except BootFileMissing as exc:
            return BootOutcome.BOOTFILE_MISSING, str(exc), None
        except BootFileBroken as exc:
            return BootOutcome.BOOTFILE_BROKEN, str(exc), None
        if config.name != self.name:
            reason = f"boot file is for node {config.name!r}, not {self.name!r}"
            return BootOutcome.BOOTFILE_BROKEN, reason, None
        return BootOutcome.BOOTED, "", config

    def _start_os_locked(self, config: BootConfig) -> None:
        cmdline_file = self.node_dir / "cmdline"
        cmdline_file.write_text(config.cmdline + "\n", encoding="utf-8")
        env = dict(os.environ)
        env.update(self._extra_env)
        env.update(
            KRAKEN_SIM_NODE=self.name,
            KRAKEN_SIM_MAC=self.mac,
            KRAKEN_SIM_CMDLINE=str(cmdline_file),
            KRAKEN_SIM_NODE_DIR=str(self.node_dir),
        )
        with open(self.console_log, "ab") as console:
            console.write(f"--- boot {self._boot_count}: {config.cmdline}\n".encode())
            console.flush()
            self._proc = subprocess.Popen(
                list(config.exec_argv),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=self.node_dir,
                env=env,
                start_new_session=True,  # own session and process group: killed as a group
                close_fds=True,
            )
        self._os_pgid = self._proc.pid
        self._os_state = OsState.RUNNING

    def _poll_locked(self) -> None:
        proc = self._proc
        if proc is None or self._os_state is not OsState.RUNNING:
            return
        code = proc.poll()
        if code is None:
            return
        self._os_state = OsState.EXITED
        self._os_exit_code = code
        log.info("event=sim.os_exit node=%s pid=%s code=%s", self.name, proc.pid, code)
        self._write_state_locked()

    def _signal_os_locked(self, signum: int) -> None:
        if self._os_pgid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._os_pgid, signum)

    def _kill_os_locked(self, final: OsState) -> None:
        """Kill the OS process group; ``final`` is STOPPED (power action) or CRASHED (fault knob)."""
        proc = self._proc
        was_running = self._os_state is OsState.RUNNING
        self._signal_os_locked(signal.SIGKILL)
        if proc is not None:
            try:
                code = proc.wait(timeout=_KILL_WAIT)
            except subprocess.TimeoutExpired:
                log.error("event=sim.kill_timeout node=%s pid=%s", self.name, proc.pid)
                code = None
            if was_running:
                self._os_exit_code = code
            log.info("event=sim.os_stop node=%s pid=%s state=%s", self.name, proc.pid, final.value)
        if final is OsState.STOPPED or was_running:
            self._os_state = final
        self._proc = None
        self._os_pgid = None

    def _finish_shutdown(self, proc: subprocess.Popen[bytes], generation: int) -> None:
        try:
            proc.wait(timeout=self.graceful_timeout)
        except subprocess.TimeoutExpired:
            log.info("event=sim.shutdown_timeout node=%s pid=%s", self.name, proc.pid)
        with self._lock:
            if self._generation != generation or self._closed:
                return
            if Fault.POWER_STUCK in self._faults:
                return
            self._halt_locked()
            log.info("event=sim.power node=%s power=off reason=shutdown", self.name)
            self._write_state_locked()

    def _snapshot_locked(self) -> NodeState:
        return NodeState(
            name=self.name,
            mac=self.mac,
            power=self._power,
            boot_device=self._boot_device,
            boot_outcome=self._boot_outcome,
            boot_reason=self._boot_reason,
            boot_count=self._boot_count,
            os_state=self._os_state,
            os_pid=self._os_pgid if self._os_state is OsState.RUNNING else None,
            os_exit_code=self._os_exit_code,
            faults=tuple(sorted(self._faults)),
        )

    def _write_state_locked(self) -> None:
        data = json.dumps(self._snapshot_locked().to_dict(), indent=1, sort_keys=True)
        try:
            fd, tmp = tempfile.mkstemp(dir=self.node_dir, prefix=".state-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(data)
            os.replace(tmp, self.state_file)
        except OSError as exc:
            log.warning("event=sim.state_write_failed node=%s error=%s", self.name, json.dumps(str(exc)))
