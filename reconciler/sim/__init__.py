"""Simulated hardware for the demo and the tests: BMCs, PXE boot files and node "machines".

A :class:`Simulator` runs many simulated nodes in one process. Each node has a real IPMI 2.0 BMC
(pyghmi's server, UDP) and a real Redfish service (HTTPS) on its own loopback ports, and power that
really starts and stops the node's "OS": a child process named by the node's PXE boot file (format:
:mod:`reconciler.sim.bootfile`). Fault knobs (:class:`Fault`) make BMCs unresponsive, power stuck,
boot files missing or broken, and OSes crash. ``python -m reconciler.sim`` runs one as a separate
process with a control endpoint (:mod:`reconciler.sim.control`).

Module map: ``bootfile`` (boot file format), ``state`` (enums, snapshots), ``machine`` (power, boot,
OS process), ``bmc_ipmi`` / ``bmc_redfish`` (protocol front ends), ``tls`` (certificate),
``loop`` / ``httpbase`` (socket serving), ``supervisor`` (the Simulator), ``control`` (endpoint and
client), ``export`` (sim.json, inventory, credentials), ``errors``.

This package imports nothing else from ``reconciler``.
"""

from reconciler.sim.bootfile import BootConfig, bootfile_path, load_bootfile, parse_bootfile, write_bootfile
from reconciler.sim.control import ControlClient
from reconciler.sim.errors import (
    BootFileBroken,
    BootFileError,
    BootFileMissing,
    ControlError,
    SimConfigError,
    SimError,
)
from reconciler.sim.export import SimFiles, write_files
from reconciler.sim.state import BootOutcome, Fault, NodeState, OsState, PowerState
from reconciler.sim.supervisor import NodeInfo, Platform, PlatformPolicy, Simulator

__all__ = [
    "BootConfig",
    "BootFileBroken",
    "BootFileError",
    "BootFileMissing",
    "BootOutcome",
    "ControlClient",
    "ControlError",
    "Fault",
    "NodeInfo",
    "NodeState",
    "OsState",
    "Platform",
    "PlatformPolicy",
    "PowerState",
    "SimConfigError",
    "SimError",
    "SimFiles",
    "Simulator",
    "bootfile_path",
    "load_bootfile",
    "parse_bootfile",
    "write_bootfile",
    "write_files",
]
