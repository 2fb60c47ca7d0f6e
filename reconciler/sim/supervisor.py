"""The simulator: many simulated nodes, their BMCs and one socket loop in one process.

:class:`Simulator` builds, for every node, a :class:`~reconciler.sim.machine.Machine`, an IPMI BMC
(:mod:`~reconciler.sim.bmc_ipmi`) and a Redfish service (:mod:`~reconciler.sim.bmc_redfish`), each on
its own free loopback port, and serves all their sockets from one
:class:`~reconciler.sim.loop.SocketLoop` thread. It owns their lifetime: :meth:`Simulator.stop` (also
run by the context manager and at interpreter exit) closes every socket and kills every OS process
group it started. Signal handling is left to the program (``python -m reconciler.sim`` installs
SIGTERM/SIGINT handlers that call :meth:`Simulator.stop`).

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp, Simulator(2, workdir=Path(tmp)) as sim:
...     [(node.name, node.platform.value, node.mac) for node in sim.nodes]
[('n01', 'ipmi', '02:4b:52:00:00:01'), ('n02', 'redfish', '02:4b:52:00:00:02')]
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from reconciler.sim.bmc_ipmi import IpmiBmc
from reconciler.sim.bmc_redfish import RedfishService
from reconciler.sim.bootfile import bootfile_path, normalize_mac
from reconciler.sim.control import POWER_ACTIONS, ControlServer
from reconciler.sim.errors import SimConfigError, SimError
from reconciler.sim.loop import SocketLoop
from reconciler.sim.machine import Machine
from reconciler.sim.state import Fault, NodeState
from reconciler.sim.tls import TlsIdentity, make_tls_identity

__all__ = ["NodeInfo", "Platform", "PlatformPolicy", "Simulator"]

log = logging.getLogger(__name__)

MAX_NODES = 4096


class Platform(StrEnum):
    """Which power driver the inventory tells the reconciler to use for a node (both BMCs always run)."""

    IPMI = "ipmi"
    REDFISH = "redfish"


class PlatformPolicy(StrEnum):
    """How platforms are assigned to nodes: alternate (odd nodes ipmi, even redfish) or all the same."""

    ALTERNATE = "alternate"
    IPMI = "ipmi"
    REDFISH = "redfish"

    def platform_of(self, index: int) -> Platform:
        if self is PlatformPolicy.ALTERNATE:
            return Platform.IPMI if index % 2 == 1 else Platform.REDFISH
        return Platform(self.value)


@dataclass(frozen=True)
class NodeInfo:
    """Static description of one simulated node: identity, BMC endpoints, credentials, files."""

    name: str
    index: int
    mac: str
    platform: Platform
    ipmi_host: str
    ipmi_port: int
    redfish_host: str
    redfish_port: int
    username: str
    password: str = field(repr=False)
    node_dir: Path
    bootfile: Path

    @property
    def system_id(self) -> str:
        """The Redfish ComputerSystem id (the node name)."""
        return self.name

    @property
    def redfish_uri(self) -> str:
        """``host:port``: the ``baseuri`` of ``community.general.redfish_*`` modules."""
        return f"{self.redfish_host}:{self.redfish_port}"

    @property
    def redfish_url(self) -> str:
        """The Redfish service root URL."""
        return f"https://{self.redfish_uri}/redfish/v1/"

    @property
    def state_file(self) -> Path:
        return self.node_dir / "state.json"

    @property
    def console_log(self) -> Path:
        return self.node_dir / "console.log"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description; never includes the password."""
        return {
            "name": self.name,
            "index": self.index,
            "mac": self.mac,
            "platform": self.platform.value,
            "ipmi": {"host": self.ipmi_host, "port": self.ipmi_port},
            "redfish": {
                "host": self.redfish_host,
                "port": self.redfish_port,
                "base_uri": self.redfish_uri,
                "url": self.redfish_url,
                "system_id": self.system_id,
            },
            "username": self.username,
            "node_dir": str(self.node_dir),
            "state_file": str(self.state_file),
            "console_log": str(self.console_log),
            "bootfile": str(self.bootfile),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, password: str = "") -> NodeInfo:
        """Inverse of :meth:`to_dict`, for processes that read ``sim.json`` (password from credentials)."""
        return cls(
            name=str(data["name"]),
            index=int(data["index"]),
            mac=str(data["mac"]),
            platform=Platform(data["platform"]),
            ipmi_host=str(data["ipmi"]["host"]),
            ipmi_port=int(data["ipmi"]["port"]),
            redfish_host=str(data["redfish"]["host"]),
            redfish_port=int(data["redfish"]["port"]),
            username=str(data["username"]),
            password=password,
            node_dir=Path(data["node_dir"]),
            bootfile=Path(data["bootfile"]),
        )


@dataclass
class _Node:
    info: NodeInfo
    machine: Machine
    ipmi: IpmiBmc
    redfish: RedfishService


class Simulator:
    """A fleet of simulated machines with real IPMI and Redfish BMCs on loopback.

    ``nodes`` nodes are named ``<name_prefix><NN>`` (zero-padded to at least two digits) with MACs
    ``<mac_prefix>:XX:XX:XX`` from their 1-based index. Every node gets both an IPMI BMC and a Redfish
    service; ``platform`` only decides what the inventory tells the reconciler to use. Without
    ``password`` every node gets its own random password (user ``username``).
    ``tftp_root`` defaults to ``<workdir>/tftp``; boot files live under ``<tftp_root>/pxelinux.cfg``.
    ``control=True`` also serves the control endpoint (:mod:`~reconciler.sim.control`).
    """

    def __init__(
        self,
        nodes: int = 1,
        *,
        workdir: Path,
        tftp_root: Path | None = None,
        host: str = "127.0.0.1",
        username: str = "admin",
        password: str | None = None,
        platform: PlatformPolicy | str = PlatformPolicy.ALTERNATE,
        name_prefix: str = "n",
        mac_prefix: str = "02:4b:52",
        graceful_timeout: float = 5.0,
        fault_hold_timeout: float = 60.0,
        control: bool = False,
        os_env: Mapping[str, str] | None = None,
    ) -> None:
        if not 1 <= nodes <= MAX_NODES:
            raise SimConfigError(f"nodes must be between 1 and {MAX_NODES}, got {nodes}")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise SimConfigError(f"host must be an IPv4 loopback address, got {host!r}") from None
        if address not in ipaddress.ip_network("127.0.0.0/8"):
            raise SimConfigError(f"host must be a loopback address in 127.0.0.0/8, got {host!r}")
        try:
            self.platform_policy = PlatformPolicy(platform)
        except ValueError:
            choices = ", ".join(p.value for p in PlatformPolicy)
            raise SimConfigError(f"platform must be one of {choices}, got {platform!r}") from None
        normalize_mac(f"{mac_prefix}:00:00:00")
        if password is not None and not 1 <= len(password.encode()) <= 20:
            raise SimConfigError("password must be 1 to 20 bytes (the IPMI 2.0 limit)")
        self.count = nodes
        self.workdir = Path(workdir).absolute()
        self.tftp_root = (Path(tftp_root) if tftp_root is not None else self.workdir / "tftp").absolute()
        self.host = host
        self.username = username
        self._password = password
        self.name_prefix = name_prefix
        self.mac_prefix = mac_prefix.lower()
        self.graceful_timeout = graceful_timeout
        self.fault_hold_timeout = fault_hold_timeout
        self._control_enabled = control
        self._os_env = dict(os_env or {})
        self._nodes: dict[str, _Node] = {}
        self._loop: SocketLoop | None = None
        self._control: ControlServer | None = None
        self._control_token: str | None = None
        self._tls: TlsIdentity | None = None
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        self.start_seconds: float | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Simulator:
        """Bind every BMC and start serving; on failure everything built so far is torn down."""
        with self._lock:
            if self._started:
                return self
            if self._stopped:
                raise SimError("a stopped simulator cannot be started again")
            self._started = True
        began = time.perf_counter()
        try:
            self._build()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        self.start_seconds = time.perf_counter() - began
        log.info(
            "event=sim.started nodes=%d seconds=%.3f workdir=%s control=%s",
            self.count, self.start_seconds, self.workdir, self.control_url or "-",
        )
        return self

    def stop(self) -> None:
        """Stop serving, close every socket, kill every OS process group. Idempotent, thread-safe."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        atexit.unregister(self.stop)
        began = time.perf_counter()
        if self._loop is not None:
            self._loop.stop()
        if self._control is not None:
            self._control.close()
        nodes = list(self._nodes.values())
        for node in nodes:
            node.redfish.stopping.set()  # release held connections of every node at once
        for node in nodes:
            node.redfish.close()
            node.ipmi.close()
        for node in nodes:
            node.machine.close()
        log.info("event=sim.stopped nodes=%d seconds=%.3f", len(nodes), time.perf_counter() - began)

    @property
    def running(self) -> bool:
        return self._started and not self._stopped

    def _build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.tftp_root / "pxelinux.cfg").mkdir(parents=True, exist_ok=True)
        self._tls = make_tls_identity(self.workdir / "tls", hosts=[self.host])
        ssl_context = self._tls.server_context()
        loop = SocketLoop(on_tick=self._tick)
        self._loop = loop
        width = max(2, len(str(self.count)))
        for index in range(1, self.count + 1):
            name = f"{self.name_prefix}{index:0{width}d}"
            mac = normalize_mac(f"{self.mac_prefix}:{index >> 16 & 0xFF:02x}:{index >> 8 & 0xFF:02x}:"
                                f"{index & 0xFF:02x}")
            password = self._password or secrets.token_urlsafe(12)
            users = {self.username: password}
            node_uuid = uuid.uuid4()
            machine = Machine(
                name=name, mac=mac, node_dir=self.workdir / "nodes" / name, tftp_root=self.tftp_root,
                graceful_timeout=self.graceful_timeout, extra_env=self._os_env,
            )
            ipmi = IpmiBmc(machine, users=users, host=self.host, bmc_uuid=node_uuid)
            try:
                redfish = RedfishService(
                    machine, users=users, ssl_context=ssl_context, host=self.host,
                    hold_timeout=self.fault_hold_timeout, uuid=str(node_uuid),
                )
            except BaseException:
                ipmi.close()
                machine.close()
                raise
            info = NodeInfo(
                name=name, index=index, mac=mac, platform=self.platform_policy.platform_of(index),
                ipmi_host=self.host, ipmi_port=ipmi.port, redfish_host=self.host, redfish_port=redfish.port,
                username=self.username, password=password, node_dir=machine.node_dir,
                bootfile=bootfile_path(self.tftp_root, mac),
            )
            self._nodes[name] = _Node(info=info, machine=machine, ipmi=ipmi, redfish=redfish)
            loop.add_reader(ipmi.serversocket, ipmi.handle_readable)
            loop.add_reader(redfish.socket, redfish.handle_readable)
        if self._control_enabled:
            self._control_token = secrets.token_urlsafe(24)
            self._control = ControlServer(self, token=self._control_token, host=self.host)
            loop.add_reader(self._control.socket, self._control.handle_readable)
        loop.start()

    def _tick(self) -> None:
        for node in self._nodes.values():
            node.machine.refresh()

    # ------------------------------------------------------------------ nodes

    @property
    def nodes(self) -> tuple[NodeInfo, ...]:
        """Descriptors of every node, in index order."""
        return tuple(node.info for node in self._nodes.values())

    def node_names(self) -> list[str]:
        return list(self._nodes)

    def node(self, name: str) -> NodeInfo:
        return self._get(name).info

    def machine(self, name: str) -> Machine:
        """The node's machine, to press its buttons directly (power_on, power_off, ...)."""
        return self._get(name).machine

    def state(self, name: str) -> NodeState:
        return self._get(name).machine.state()

    def states(self) -> list[NodeState]:
        return [node.machine.state() for node in self._nodes.values()]

    def set_fault(self, name: str, fault: Fault | str) -> NodeState:
        """Set a fault knob on a node (see :class:`~reconciler.sim.state.Fault`)."""
        machine = self._get(name).machine
        machine.set_fault(_fault(fault))
        return machine.state()

    def clear_fault(self, name: str, fault: Fault | str) -> NodeState:
        machine = self._get(name).machine
        machine.clear_fault(_fault(fault))
        return machine.state()

    def clear_faults(self, name: str | None = None) -> None:
        """Clear every fault knob of one node, or of every node."""
        names = [name] if name is not None else list(self._nodes)
        for each in names:
            machine = self._get(each).machine
            for fault in machine.state().faults:
                machine.clear_fault(fault)

    def power(self, name: str, action: str) -> NodeState:
        """Press a node's power button directly: one of on, off, cycle, reset, shutdown."""
        machine = self._get(name).machine
        actions: dict[str, Callable[[], None]] = {
            "on": machine.power_on, "off": machine.power_off, "cycle": machine.power_cycle,
            "reset": machine.reset, "shutdown": machine.shutdown,
        }
        if action not in actions:
            raise SimConfigError(f"power action must be one of {', '.join(POWER_ACTIONS)}, got {action!r}")
        actions[action]()
        return machine.state()

    def wait_for(
        self,
        name: str,
        predicate: Callable[[NodeState], bool],
        *,
        timeout: float = 10.0,
        interval: float = 0.05,
    ) -> NodeState:
        """Poll the node's state until ``predicate`` holds; raise TimeoutError with the last state."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(name)
            if predicate(state):
                return state
            if time.monotonic() >= deadline:
                raise TimeoutError(f"node {name}: condition not met within {timeout}s; last state {state}")
            time.sleep(interval)

    # ------------------------------------------------------------------ files and endpoints

    @property
    def tls(self) -> TlsIdentity:
        """The Redfish services' certificate (trust ``tls.cert_file`` to verify them)."""
        if self._tls is None:
            raise SimError("the simulator is not started")
        return self._tls

    @property
    def control_url(self) -> str | None:
        return None if self._control is None else self._control.url

    @property
    def control_token(self) -> str | None:
        return self._control_token

    def _get(self, name: str) -> _Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise SimConfigError(f"no simulated node named {name!r}") from None


def _fault(fault: Fault | str) -> Fault:
    try:
        return Fault(fault)
    except ValueError:
        choices = ", ".join(f.value for f in Fault)
        raise SimConfigError(f"unknown fault {fault!r}; expected one of {choices}") from None
