"""Redfish over real HTTPS (certificate verified) against the simulated services."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from reconciler.sim import NodeInfo, OsState, PowerState, Simulator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_service_root_is_open_and_everything_else_needs_credentials(
    sim: Simulator, redfish: Callable[[NodeInfo], Any]
) -> None:
    node = sim.nodes[0]
    client = redfish(node)
    status, root, _ = client.request("GET", "/redfish/v1/", auth=False)
    assert status == 200 and root is not None
    assert root["Systems"] == {"@odata.id": "/redfish/v1/Systems"}
    status, body, headers = client.request("GET", "/redfish/v1/Systems", auth=False)
    assert status == 401 and "Basic" in headers["WWW-Authenticate"]
    assert body is not None and "error" in body
    status, systems, _ = client.request("GET", "/redfish/v1/Systems")
    assert status == 200 and systems is not None
    assert systems["Members"] == [{"@odata.id": f"/redfish/v1/Systems/{node.name}"}]
    status, nic, _ = client.request("GET", f"/redfish/v1/Systems/{node.name}/EthernetInterfaces/nic0")
    assert status == 200 and nic is not None and nic["MACAddress"] == node.mac
    assert client.request("GET", "/redfish/v1/Nope")[0] == 404


def test_reset_actions_drive_power_and_the_os(
    sim: Simulator, redfish: Callable[[NodeInfo], Any], os_tools: Any
) -> None:
    node = sim.nodes[1]
    os_tools.write_boot(sim, node)
    client = redfish(node)
    status, system, _ = client.request("GET", client.system)
    assert status == 200 and system is not None
    assert system["PowerState"] == "Off"
    allowed = system["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"]
    assert {"On", "ForceOff", "GracefulShutdown", "ForceRestart"} <= set(allowed)

    assert client.reset("On") == 204
    assert client.power_state() == "On"
    first = os_tools.wait_os_record(node)
    _, system, _ = client.request("GET", client.system)
    assert system is not None and system["Oem"]["Kraken"]["OsState"] == "running"

    assert client.reset("ForceRestart") == 204
    state = sim.wait_for(node.name, lambda s: s.boot_count == 2 and s.os_state is OsState.RUNNING)
    assert os_tools.wait_os_record(node, pid=state.os_pid)["pid"] != first["pid"]

    assert client.reset("GracefulShutdown") == 204
    sim.wait_for(node.name, lambda s: s.power is PowerState.OFF, timeout=10)
    assert client.power_state() == "Off"

    assert client.reset("On") == 204
    assert client.reset("ForceOff") == 204
    assert client.power_state() == "Off"
    assert sim.state(node.name).os_state is OsState.STOPPED


def test_bad_requests_change_nothing(sim: Simulator, redfish: Callable[[NodeInfo], Any]) -> None:
    node = sim.nodes[0]
    client = redfish(node)
    action = f"{client.system}/Actions/ComputerSystem.Reset"
    status, body, _ = client.request("POST", action, {"ResetType": "Explode"})
    assert status == 400 and body is not None and "ActionParameterValueNotInList" in str(body)
    assert client.request("POST", action, {})[0] == 400
    assert client.request("POST", action, ["On"])[0] == 400
    assert client.request("PATCH", client.system, {"PowerState": "On"})[0] == 400
    assert client.request("DELETE", client.system)[0] == 405
    assert sim.state(node.name).power is PowerState.OFF


def test_boot_override_patch(sim: Simulator, redfish: Callable[[NodeInfo], Any]) -> None:
    node = sim.nodes[0]
    client = redfish(node)
    boot = {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}
    assert client.request("PATCH", client.system, {"Boot": boot})[0] == 204
    _, system, _ = client.request("GET", client.system)
    assert system is not None
    assert system["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    assert system["Boot"]["BootSourceOverrideEnabled"] == "Once"
    assert sim.state(node.name).boot_device == "network"
    bad = {"BootSourceOverrideTarget": "Tape"}
    assert client.request("PATCH", client.system, {"Boot": bad})[0] == 400


def test_tls_is_required_and_verifiable(sim: Simulator) -> None:
    node = sim.nodes[0]
    plain = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        plain.open(f"http://{node.redfish_uri}/redfish/v1/", timeout=5).read()
    strict = ssl.create_default_context()  # system trust store: the self-signed cert is refused
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=strict)
    )
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        opener.open(f"https://{node.redfish_uri}/redfish/v1/", timeout=5).read()
