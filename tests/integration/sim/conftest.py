"""Fixtures for the simulator's integration tests: a running simulator, a fake OS, real clients.

The "OS" booted by the nodes is a small Python script (written to a temporary directory) that
records what it was booted with in ``<node_dir>/os.json`` and then sleeps; modes make it exit at
once, spawn a grandchild, or ignore SIGTERM. Clients are the real ones: pyghmi's IPMI client and
HTTPS requests (urllib) that verify the simulator's certificate.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sim import BootConfig, NodeInfo, Simulator, write_bootfile

PASSWORD = "sim-test-pw"

OS_SCRIPT = r'''
import json, os, pathlib, signal, subprocess, sys, time
node_dir = pathlib.Path(os.environ["KRAKEN_SIM_NODE_DIR"])
mode = sys.argv[1] if len(sys.argv) > 1 else "sleep"
if mode == "exit":
    sys.exit(int(sys.argv[2]))
if mode == "ignore-term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
info = {
    "argv": sys.argv[1:],
    "pid": os.getpid(),
    "pgid": os.getpgid(0),
    "sid": os.getsid(0),
    "node": os.environ["KRAKEN_SIM_NODE"],
    "mac": os.environ["KRAKEN_SIM_MAC"],
    "cmdline": pathlib.Path(os.environ["KRAKEN_SIM_CMDLINE"]).read_text().strip(),
}
if mode == "spawn":
    info["child"] = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid
tmp = node_dir / "os.json.tmp"
tmp.write_text(json.dumps(info))
tmp.replace(node_dir / "os.json")
time.sleep(600)
'''


def wait_until(predicate: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (PID 1 in a container may not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


class OsTools:
    """Writes boot files that boot the test OS script, and reads what the OS recorded."""

    wait_until = staticmethod(wait_until)
    pid_alive = staticmethod(pid_alive)

    def __init__(self, script: Path) -> None:
        self.script = script

    def boot_config(self, node: NodeInfo, *args: str) -> BootConfig:
        return BootConfig(
            name=node.name,
            exec_argv=(sys.executable, str(self.script), *args),
            parent="127.0.0.1:31415",
            key_file=f"/etc/kraken/{node.name}.key",
            args={"console": "ttyS0"},
        )

    def write_boot(self, sim: Simulator, node: NodeInfo, *args: str) -> Path:
        return write_bootfile(sim.tftp_root, node.mac, self.boot_config(node, *args))

    @staticmethod
    def os_record(node: NodeInfo) -> dict[str, Any] | None:
        path = node.node_dir / "os.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data

    def wait_os_record(
        self, node: NodeInfo, *, pid: int | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            record = self.os_record(node)
            if record is not None and (pid is None or record["pid"] == pid):
                return record
            return None

        result: dict[str, Any] = wait_until(ready, timeout=timeout)
        return result


class RedfishClient:
    """Minimal HTTPS Redfish client on urllib, verifying the simulator's self-signed certificate."""

    def __init__(
        self, node: NodeInfo, *, ca_file: Path, password: str = PASSWORD, timeout: float = 5.0
    ) -> None:
        self.base = f"https://{node.redfish_uri}"
        self.system = f"/redfish/v1/Systems/{node.system_id}"
        self.auth = "Basic " + base64.b64encode(f"{node.username}:{password}".encode()).decode()
        self.timeout = timeout
        context = ssl.create_default_context(cafile=str(ca_file))
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

    def request(
        self, method: str, path: str, body: Any = None, *, auth: bool = True
    ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        headers = {"Accept": "application/json", "OData-Version": "4.0"}
        if auth:
            headers["Authorization"] = self.auth
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, (json.loads(raw) if raw else None), dict(exc.headers)

    def power_state(self) -> str:
        status, body, _ = self.request("GET", self.system)
        assert status == 200 and body is not None
        return str(body["PowerState"])

    def reset(self, reset_type: str) -> int:
        status, _, _ = self.request(
            "POST", f"{self.system}/Actions/ComputerSystem.Reset", {"ResetType": reset_type}
        )
        return status


@pytest.fixture(scope="session")
def os_tools(tmp_path_factory: pytest.TempPathFactory) -> OsTools:
    script = tmp_path_factory.mktemp("fake-os") / "fake_os.py"
    script.write_text(OS_SCRIPT)
    return OsTools(script)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    with Simulator(2, workdir=tmp_path / "sim", password=PASSWORD, graceful_timeout=2.0,
                   fault_hold_timeout=10.0) as simulator:
        yield simulator


@pytest.fixture
def redfish(sim: Simulator) -> Callable[[NodeInfo], RedfishClient]:
    def make(node: NodeInfo) -> RedfishClient:
        return RedfishClient(node, ca_file=sim.tls.cert_file)

    return make


@pytest.fixture
def ipmi() -> Iterator[Callable[..., Any]]:
    """Factory of logged-in pyghmi clients; every session is logged out at teardown."""
    from pyghmi.ipmi.command import Command

    sessions: list[Any] = []

    def make(node: NodeInfo, *, password: str = PASSWORD) -> Any:
        command = Command(bmc=node.ipmi_host, userid=node.username, password=password, port=node.ipmi_port)
        sessions.append(command)
        return command

    yield make
    for command in sessions:
        with contextlib.suppress(Exception):  # a session the test broke on purpose
            command.ipmi_session.logout()


@pytest.fixture
def fd_count() -> Callable[[], int]:
    def count() -> int:
        return len(os.listdir("/proc/self/fd"))

    return count
