"""IPMI 2.0 against the simulated BMCs with pyghmi's real client (RMCP+, SHA-256 -> SHA-1 fallback)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from pyghmi.exceptions import IpmiException

from reconciler.sim import BootOutcome, OsState, PowerState, Simulator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_power_on_boots_the_os_from_the_boot_file(
    sim: Simulator, ipmi: Callable[..., Any], os_tools: Any
) -> None:
    node = sim.nodes[0]
    os_tools.write_boot(sim, node)
    client = ipmi(node)
    assert client.get_power() == {"powerstate": "off"}

    assert client.set_power("on", wait=True)["powerstate"] == "on"
    record = os_tools.wait_os_record(node)
    state = sim.state(node.name)
    assert state.power is PowerState.ON
    assert state.boot_outcome is BootOutcome.BOOTED
    assert state.os_state is OsState.RUNNING and state.os_pid == record["pid"]
    assert record["node"] == node.name and record["mac"] == node.mac
    assert record["pgid"] == record["pid"], "the OS runs in its own process group"
    assert "kraken.parent=127.0.0.1:31415" in record["cmdline"]
    assert f"kraken.key=/etc/kraken/{node.name}.key" in record["cmdline"]

    assert client.set_power("off", wait=True)["powerstate"] == "off"
    state = sim.state(node.name)
    assert state.power is PowerState.OFF and state.os_state is OsState.STOPPED and state.os_pid is None
    assert not os_tools.pid_alive(record["pid"])


def test_reset_and_cycle_boot_a_fresh_os(sim: Simulator, ipmi: Callable[..., Any], os_tools: Any) -> None:
    node = sim.nodes[1]
    os_tools.write_boot(sim, node)
    client = ipmi(node)
    client.set_power("on", wait=True)
    first = os_tools.wait_os_record(node)

    client.set_power("reset")
    state = sim.wait_for(node.name, lambda s: s.boot_count == 2 and s.os_state is OsState.RUNNING)
    second = os_tools.wait_os_record(node, pid=state.os_pid)
    assert second["pid"] != first["pid"] and not os_tools.pid_alive(first["pid"])

    client.set_power("boot")  # pyghmi: power cycle when on
    state = sim.wait_for(node.name, lambda s: s.boot_count == 3)
    assert state.power is PowerState.ON and state.os_state is OsState.RUNNING


def test_soft_shutdown_waits_for_the_os(sim: Simulator, ipmi: Callable[..., Any], os_tools: Any) -> None:
    node = sim.nodes[0]
    os_tools.write_boot(sim, node, "ignore-term")
    client = ipmi(node)
    client.set_power("on", wait=True)
    record = os_tools.wait_os_record(node)
    client.set_power("shutdown")
    # an OS that ignores SIGTERM keeps the power on until the graceful timeout (2 s here)
    assert sim.state(node.name).power is PowerState.ON
    sim.wait_for(node.name, lambda s: s.power is PowerState.OFF, timeout=10)
    assert not os_tools.pid_alive(record["pid"])


def test_boot_device_is_stored_and_reported(sim: Simulator, ipmi: Callable[..., Any]) -> None:
    node = sim.nodes[0]
    client = ipmi(node)
    assert client.set_bootdev("network")["bootdev"] == "network"
    assert client.get_bootdev()["bootdev"] == "network"
    assert sim.state(node.name).boot_device == "network"
    client.set_bootdev("hd")
    assert client.get_bootdev()["bootdev"] == "hd"


def test_wrong_password_is_refused(sim: Simulator, ipmi: Callable[..., Any]) -> None:
    with pytest.raises(IpmiException, match="password"):
        ipmi(sim.nodes[1], password="not-the-password").get_power()


def test_client_in_another_process(sim: Simulator) -> None:
    """What Ansible's ipmi_power module does: a fresh process with its own pyghmi state."""
    node = sim.nodes[1]
    code = (
        "import sys; from pyghmi.ipmi.command import Command\n"
        "c = Command(bmc=sys.argv[1], userid=sys.argv[2], password=sys.stdin.read(), port=int(sys.argv[3]))\n"
        "print(c.set_power('on', wait=True)['powerstate'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, node.ipmi_host, node.username, str(node.ipmi_port)],
        input=node.password, capture_output=True, text=True, timeout=30, check=True,
    )
    assert result.stdout.strip() == "on"
    assert sim.state(node.name).power is PowerState.ON
