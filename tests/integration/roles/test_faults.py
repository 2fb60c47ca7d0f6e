"""Every fault knob of the simulator makes the matching role fail or time out visibly, with the value the engine needs.

The engine (reconciler.engine.engine) maps a step's outcome: observed ``to`` values -> success; a failure ->
backoff, keeping any value the role reported before failing; a timeout -> the mutation's ``failto``. So a role
that waited its full bound without seeing its target reports the failure value it observed (power HANG,
runstate ERROR) and then fails; a BMC that does not answer fails the step with nothing reported.
"""

from __future__ import annotations

import time

import pytest

from reconciler.sim import Fault

pytestmark = pytest.mark.integration

HOST = "n01"


def boot_to_sync(lab, power: str) -> None:
    for step in (f"{power}:power_on", "kraken.layercake.pxe:prepare", "kraken.layercake.pxe:boot",
                 "kraken.core.runstate:sync"):
        status, _, message = lab.report(lab.run(step, [HOST]), HOST)
        assert status == "ok", f"{step}: {message}"


@pytest.mark.parametrize("platform", ["ipmi", "redfish"])
def test_power_stuck_reports_hang_and_recover_brings_it_to_power_off(make_lab, platform: str) -> None:
    lab = make_lab(1, platform)
    power = f"kraken.layercake.power_{platform}"
    lab.sim.set_fault(HOST, Fault.POWER_STUCK)
    status, found, message = lab.report(lab.run(f"{power}:power_on", [HOST]), HOST)
    assert (status, found) == ("failed", {"power": "HANG"})
    assert "still reports power off" in message and "HANG" in message
    assert lab.sim.state(HOST).power.value == "off"

    # recover: the node is off, so the forced off finds it off and it is observed off
    lab.sim.clear_fault(HOST, Fault.POWER_STUCK)
    assert lab.report(lab.run(f"{power}:recover", [HOST]), HOST)[:2] == ("ok", {"power": "POWER_OFF"})

    # stuck while on: power_off cannot turn it off (HANG), nor can recover until the BMC obeys again
    assert lab.report(lab.run(f"{power}:power_on", [HOST]), HOST)[:2] == ("ok", {"power": "POWER_ON"})
    lab.sim.set_fault(HOST, Fault.POWER_STUCK)
    assert lab.report(lab.run(f"{power}:power_off", [HOST]), HOST)[:2] == ("failed", {"power": "HANG"})
    status, found, message = lab.report(lab.run(f"{power}:recover", [HOST]), HOST)
    assert (status, found) == ("failed", {"power": "HANG"}) and "still reports power on" in message
    lab.sim.clear_fault(HOST, Fault.POWER_STUCK)
    assert lab.report(lab.run(f"{power}:recover", [HOST]), HOST)[:2] == ("ok", {"power": "POWER_OFF"})
    assert lab.sim.state(HOST).power.value == "off"


def test_a_step_outliving_its_timeout_is_cancelled_so_the_engine_applies_failto(make_lab) -> None:
    """With the role's own wait longer than the step's timeout the run is stopped: outcome cancelled, which the
    engine turns into the mutation's failto (power HANG) and then plans recover."""
    lab = make_lab(1, "ipmi")
    lab.sim.set_fault(HOST, Fault.POWER_STUCK)
    lab.overrides[HOST].update(kraken_power_ipmi_wait=30)
    began = time.monotonic()
    result = lab.run("kraken.layercake.power_ipmi:power_on", [HOST], timeout=4)
    assert time.monotonic() - began < 15
    assert lab.report(result, HOST)[0] == "cancelled" and result.status in ("canceled", "timeout")
    assert lab.mutation("kraken.layercake.power_ipmi:power_on").failto == {"power": "HANG"}


@pytest.mark.parametrize("platform", ["ipmi", "redfish"])
def test_unresponsive_bmc_fails_discover_within_its_bound(make_lab, platform: str) -> None:
    lab = make_lab(1, platform)
    lab.sim.set_fault(HOST, Fault.BMC_UNRESPONSIVE)
    began = time.monotonic()
    status, found, message = lab.report(lab.run(f"kraken.layercake.power_{platform}:discover", [HOST]), HOST)
    assert time.monotonic() - began < 20, "the module bounds every BMC call"
    assert (status, found) == ("failed", {})
    assert "did not answer" in message


@pytest.mark.parametrize("fault", [Fault.BOOTFILE_MISSING, Fault.BOOTFILE_BROKEN])
def test_a_boot_file_the_node_cannot_use_makes_pxe_boot_time_out(make_lab, fault: Fault) -> None:
    lab = make_lab(1, "ipmi")
    assert lab.report(lab.run("kraken.layercake.power_ipmi:power_on", [HOST]), HOST)[0] == "ok"
    assert lab.report(lab.run("kraken.layercake.pxe:prepare", [HOST]), HOST)[:2] == ("ok", {"pxe": "WAIT"})
    lab.sim.set_fault(HOST, fault)
    status, found, message = lab.report(lab.run("kraken.layercake.pxe:boot", [HOST]), HOST)
    assert (status, found) == ("failed", {})
    assert "did not fetch its boot file" in message and fault.value in message
    assert lab.sim.state(HOST).boot_outcome.value == fault.value

    lab.sim.clear_fault(HOST, fault)  # fixed: the retried step reboots the node, which boots
    result = lab.run("kraken.layercake.pxe:boot", [HOST])
    assert lab.report(result, HOST)[:2] == ("ok", {"pxe": "INIT", "runstate": "INIT"})


def test_pxe_interrupt_removes_the_boot_entry(make_lab) -> None:
    lab = make_lab(1, "ipmi")
    assert lab.report(lab.run("kraken.layercake.pxe:prepare", [HOST]), HOST)[0] == "ok"
    info = lab.sim.node(HOST)
    host_entry = lab.root / "dnsmasq" / "hosts" / f"{HOST}.conf"
    assert info.bootfile.exists() and host_entry.exists()
    interrupt = lab.mutation("kraken.layercake.pxe:prepare")
    hook = interrupt.__class__(**{**interrupt.__dict__, "id": "kraken.layercake.pxe:interrupt", "name": "interrupt",
                                  "tasks_file": interrupt.tasks_file.parent / "interrupt.yml"})
    lab.catalog.mutations.setdefault(hook.id, hook)
    try:
        assert lab.report(lab.run("kraken.layercake.pxe:interrupt", [HOST]), HOST)[0] == "ok"
    finally:
        lab.catalog.mutations.pop(hook.id, None)
    assert not info.bootfile.exists() and not host_entry.exists()


def test_os_crash_makes_sync_report_error_and_recover_reboots_the_node(make_lab) -> None:
    lab = make_lab(1, "redfish")
    for step in ("kraken.layercake.power_redfish:power_on", "kraken.layercake.pxe:prepare"):
        assert lab.report(lab.run(step, [HOST]), HOST)[0] == "ok"
    lab.sim.set_fault(HOST, Fault.OS_CRASH)
    assert lab.report(lab.run("kraken.layercake.pxe:boot", [HOST]), HOST)[:2] == (
        "ok", {"pxe": "INIT", "runstate": "INIT"}), "the node fetched its boot file; its OS crashed at start"
    status, found, message = lab.report(lab.run("kraken.core.runstate:sync", [HOST]), HOST)
    assert (status, found) == ("failed", {"runstate": "ERROR"})
    assert "did not phone home" in message

    lab.sim.clear_fault(HOST, Fault.OS_CRASH)
    boots = lab.sim.state(HOST).boot_count
    assert lab.report(lab.run("kraken.core.runstate:recover", [HOST]), HOST)[:2] == ("ok", {"runstate": "INIT"})
    state = lab.sim.state(HOST)
    assert state.boot_count == boots + 1 and state.os_state.value == "running"
    assert lab.report(lab.run("kraken.core.runstate:sync", [HOST]), HOST)[:2] == ("ok", {"runstate": "SYNC"})


def test_busy_node_is_reported_busy_and_its_image_is_not_stopped(make_lab) -> None:
    lab = make_lab(1, "ipmi")
    busy_file = lab.node_dir(HOST) / "fs" / "busy"
    assert lab.report(lab.run("kraken.core.busy:discover", [HOST]), HOST)[:2] == ("ok", {"busy": "FREE"})
    assert lab.report(lab.run("kraken.layercake.image:activate", [HOST]), HOST)[:2] == ("ok", {"image": "ACTIVE"})
    busy_file.write_text("BUSY\n")
    assert lab.report(lab.run("kraken.core.busy:discover", [HOST]), HOST)[:2] == ("ok", {"busy": "BUSY"})
    for step in ("kraken.layercake.image:deactivate", "kraken.layercake.image:release"):
        status, found, message = lab.report(lab.run(step, [HOST]), HOST)
        assert (status, found) == ("failed", {}) and ("busy" in message or "still runs" in message), message
    assert (lab.node_dir(HOST) / "fs" / "image" / "running").exists()
    busy_file.write_text("FREE\n")
    assert lab.report(lab.run("kraken.core.busy:discover", [HOST]), HOST)[:2] == ("ok", {"busy": "FREE"})
    assert lab.report(lab.run("kraken.layercake.image:deactivate", [HOST]), HOST)[:2] == ("ok", {"image": "IDLE"})
