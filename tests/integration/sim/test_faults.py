"""Every fault knob, observed through the real protocols (pyghmi, HTTPS) and the node state."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from pyghmi.exceptions import IpmiException

from reconciler.sim import BootOutcome, Fault, NodeInfo, OsState, PowerState, SimConfigError, Simulator
from reconciler.sim.bootfile import bootfile_path

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

IPMI_GET_POWER = (
    "import sys; from pyghmi.ipmi.command import Command\n"
    "c = Command(bmc=sys.argv[1], userid=sys.argv[2], password=sys.stdin.read(), port=int(sys.argv[3]))\n"
    "print(c.get_power()['powerstate'])\n"
)


def ipmi_in_subprocess(node: NodeInfo) -> str:
    result = subprocess.run(
        [sys.executable, "-c", IPMI_GET_POWER, node.ipmi_host, node.username, str(node.ipmi_port)],
        input=node.password, capture_output=True, text=True, timeout=30, check=True,
    )
    return result.stdout.strip()


def test_bmc_unresponsive_drops_ipmi_and_redfish(
    sim: Simulator, ipmi: Callable[..., Any], redfish: Callable[[NodeInfo], Any]
) -> None:
    node = sim.nodes[0]
    sim.set_fault(node.name, Fault.BMC_UNRESPONSIVE)

    started = time.monotonic()
    with pytest.raises(IpmiException):
        ipmi(node).get_power()
    print(f"ipmi client gave up after {time.monotonic() - started:.1f}s")

    client = redfish(node)
    client.timeout = 1.0
    with pytest.raises(OSError):  # TimeoutError / URLError(timeout): the connection stays silent
        client.request("GET", "/redfish/v1/", auth=False)

    sim.clear_fault(node.name, Fault.BMC_UNRESPONSIVE)
    assert client.request("GET", "/redfish/v1/", auth=False)[0] == 200
    # pyghmi's in-process client caches the broken session; a fresh process sees the BMC answer again
    assert ipmi_in_subprocess(node) == "off"


def test_power_stuck_accepts_commands_but_never_changes_power(
    sim: Simulator, ipmi: Callable[..., Any], redfish: Callable[[NodeInfo], Any], os_tools: Any
) -> None:
    node = sim.nodes[0]
    os_tools.write_boot(sim, node)
    sim.set_fault(node.name, "power_stuck")
    client = ipmi(node)
    client.set_power("on")  # accepted: no error
    assert redfish(node).reset("On") == 204
    time.sleep(0.3)
    assert client.get_power()["powerstate"] == "off"
    assert redfish(node).power_state() == "Off"
    assert sim.state(node.name).boot_count == 0

    sim.clear_fault(node.name, Fault.POWER_STUCK)
    client.set_power("on", wait=True)
    os_tools.wait_os_record(node)
    sim.set_fault(node.name, Fault.POWER_STUCK)
    assert redfish(node).reset("ForceOff") == 204
    client.set_power("off")
    time.sleep(0.3)
    state = sim.state(node.name)
    assert state.power is PowerState.ON and state.os_state is OsState.RUNNING


def test_missing_boot_file_is_recorded(sim: Simulator, redfish: Callable[[NodeInfo], Any]) -> None:
    node = sim.nodes[1]
    assert redfish(node).reset("On") == 204
    state = sim.state(node.name)
    assert state.power is PowerState.ON
    assert state.boot_outcome is BootOutcome.BOOTFILE_MISSING
    assert str(bootfile_path(sim.tftp_root, node.mac)) in state.boot_reason
    assert state.os_state is OsState.STOPPED
    _, system, _ = redfish(node).request("GET", redfish(node).system)
    assert system is not None and system["Oem"]["Kraken"]["BootOutcome"] == "bootfile_missing"
    assert '"boot_outcome": "bootfile_missing"' in node.state_file.read_text()


def test_broken_boot_files_are_recorded_with_the_reason(sim: Simulator, os_tools: Any) -> None:
    node = sim.nodes[0]
    path = bootfile_path(sim.tftp_root, node.mac)
    path.write_text("LABEL kraken\n  APPEND kraken.name=n01\n")
    sim.power(node.name, "on")
    state = sim.state(node.name)
    assert state.boot_outcome is BootOutcome.BOOTFILE_BROKEN and "kraken.exec is missing" in state.boot_reason

    other = sim.nodes[1]
    os_tools.write_boot(sim, other)
    path.write_bytes(bootfile_path(sim.tftp_root, other.mac).read_bytes())
    sim.power(node.name, "cycle")
    state = sim.state(node.name)
    assert state.boot_outcome is BootOutcome.BOOTFILE_BROKEN and "is for node 'n02'" in state.boot_reason

    path.write_text("LABEL kraken\n  APPEND kraken.name=n01 kraken.exec=/nonexistent/os\n")
    sim.power(node.name, "cycle")
    state = sim.state(node.name)
    assert state.boot_outcome is BootOutcome.EXEC_FAILED and "/nonexistent/os" in state.boot_reason


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (Fault.BOOTFILE_MISSING, BootOutcome.BOOTFILE_MISSING),
        (Fault.BOOTFILE_BROKEN, BootOutcome.BOOTFILE_BROKEN),
    ],
)
def test_boot_file_fault_knobs_override_a_good_file(
    sim: Simulator, os_tools: Any, fault: Fault, outcome: BootOutcome
) -> None:
    node = sim.nodes[0]
    os_tools.write_boot(sim, node)
    sim.set_fault(node.name, fault)
    sim.power(node.name, "on")
    state = sim.state(node.name)
    assert state.boot_outcome is outcome and state.boot_reason == f"fault injected: {fault.value}"
    assert state.os_state is OsState.STOPPED and os_tools.os_record(node) is None
    sim.clear_fault(node.name, fault)
    sim.power(node.name, "reset")
    assert sim.state(node.name).boot_outcome is BootOutcome.BOOTED
    os_tools.wait_os_record(node)


def test_os_crash_kills_the_os_while_power_stays_on(
    sim: Simulator, ipmi: Callable[..., Any], os_tools: Any
) -> None:
    node = sim.nodes[0]
    os_tools.write_boot(sim, node, "spawn")
    client = ipmi(node)
    client.set_power("on", wait=True)
    record = os_tools.wait_os_record(node)

    sim.set_fault(node.name, Fault.OS_CRASH)
    state = sim.state(node.name)
    assert state.power is PowerState.ON and state.os_state is OsState.CRASHED and state.os_pid is None
    assert client.get_power()["powerstate"] == "on"
    os_tools.wait_until(lambda: not any(os_tools.pid_alive(record[key]) for key in ("pid", "child")))

    client.set_power("reset")  # still set: the new OS crashes at start
    state = sim.wait_for(node.name, lambda s: s.boot_count == 2)
    assert state.os_state is OsState.CRASHED and state.boot_reason == "fault injected: os_crash"

    sim.clear_fault(node.name, Fault.OS_CRASH)
    assert sim.state(node.name).os_state is OsState.CRASHED, "clearing the knob does not revive the OS"
    client.set_power("reset")
    state = sim.wait_for(node.name, lambda s: s.boot_count == 3 and s.os_state is OsState.RUNNING)
    os_tools.wait_os_record(node, pid=state.os_pid)


def test_an_os_that_exits_by_itself_is_noticed(sim: Simulator, os_tools: Any) -> None:
    node = sim.nodes[1]
    os_tools.write_boot(sim, node, "exit", "3")
    sim.power(node.name, "on")
    state = sim.wait_for(node.name, lambda s: s.os_state is OsState.EXITED)
    assert state.os_exit_code == 3 and state.power is PowerState.ON
    os_tools.wait_until(lambda: '"os_state": "exited"' in node.state_file.read_text())  # periodic refresh


def test_unknown_fault_names_are_refused(sim: Simulator) -> None:
    with pytest.raises(SimConfigError, match="unknown fault 'meltdown'"):
        sim.set_fault(sim.nodes[0].name, "meltdown")
    with pytest.raises(SimConfigError, match="no simulated node"):
        sim.set_fault("n99", Fault.OS_CRASH)
