"""The closed vocabularies of a simulated node and the read-only snapshot of its state.

Kept apart from :mod:`reconciler.sim.machine` (which *changes* state) so the BMC front ends, the
control endpoint and tests can share the names without importing the process-handling code.
Every enum value is the lower-case string that appears in JSON (control endpoint, ``state.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["BootOutcome", "Fault", "NodeState", "OsState", "PowerState"]


class PowerState(StrEnum):
    """Chassis power as the BMC reports it."""

    OFF = "off"
    ON = "on"


class BootOutcome(StrEnum):
    """How the last boot went (``none`` while powered off or before the first boot)."""

    NONE = "none"
    BOOTED = "booted"                    # boot file read, OS process started
    BOOTFILE_MISSING = "bootfile_missing"
    BOOTFILE_BROKEN = "bootfile_broken"  # unreadable, malformed, or for another node
    EXEC_FAILED = "exec_failed"          # the boot file was fine but its command could not be started


class OsState(StrEnum):
    """The node's "OS": the child process named by the boot file."""

    STOPPED = "stopped"   # never started, or stopped by a power action
    RUNNING = "running"
    EXITED = "exited"     # ended by itself while power stayed on (see ``os_exit_code``)
    CRASHED = "crashed"   # killed by the os_crash fault knob while power stayed on


class Fault(StrEnum):
    """Fault knobs, set and cleared per node by tests and the demo.

    ``bmc_unresponsive``  the BMC drops every IPMI datagram and Redfish connection (clients time out)
    ``power_stuck``       power commands are accepted (success replies) but the power never changes
    ``bootfile_missing``  boots act as if the node's boot file did not exist
    ``bootfile_broken``   boots act as if the node's boot file were unreadable
    ``os_crash``          the running OS is killed at once, and OSes booted while it is set crash at
                          start; power stays on and clearing the knob does not revive the OS
    """

    BMC_UNRESPONSIVE = "bmc_unresponsive"
    POWER_STUCK = "power_stuck"
    BOOTFILE_MISSING = "bootfile_missing"
    BOOTFILE_BROKEN = "bootfile_broken"
    OS_CRASH = "os_crash"


@dataclass(frozen=True)
class NodeState:
    """A consistent snapshot of one node, as tests, the BMCs and the control endpoint see it."""

    name: str
    mac: str
    power: PowerState
    boot_device: str
    boot_outcome: BootOutcome
    boot_reason: str
    boot_count: int
    os_state: OsState
    os_pid: int | None
    os_exit_code: int | None
    faults: tuple[Fault, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (enum members become their string values)."""
        return {
            "name": self.name,
            "mac": self.mac,
            "power": self.power.value,
            "boot_device": self.boot_device,
            "boot_outcome": self.boot_outcome.value,
            "boot_reason": self.boot_reason,
            "boot_count": self.boot_count,
            "os_state": self.os_state.value,
            "os_pid": self.os_pid,
            "os_exit_code": self.os_exit_code,
            "faults": [fault.value for fault in self.faults],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeState:
        """Inverse of :meth:`to_dict` (used by the control client)."""
        return cls(
            name=str(data["name"]),
            mac=str(data["mac"]),
            power=PowerState(data["power"]),
            boot_device=str(data["boot_device"]),
            boot_outcome=BootOutcome(data["boot_outcome"]),
            boot_reason=str(data["boot_reason"]),
            boot_count=int(data["boot_count"]),
            os_state=OsState(data["os_state"]),
            os_pid=None if data["os_pid"] is None else int(data["os_pid"]),
            os_exit_code=None if data["os_exit_code"] is None else int(data["os_exit_code"]),
            faults=tuple(Fault(value) for value in data["faults"]),
        )
