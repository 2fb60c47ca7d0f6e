"""``python -m reconciler.sim`` as a separate process: description files, control endpoint, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import reconciler.sim
from reconciler.sim import ControlClient, ControlError, Fault, NodeInfo, OsState, PowerState, write_bootfile

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

REPO_ROOT = Path(reconciler.sim.__file__).resolve().parents[2]


def sim_process(workdir: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    log_file = workdir.parent / f"{workdir.name}.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler.sim", "--workdir", str(workdir), *args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    return proc, log_file


@pytest.fixture
def running_sim(tmp_path: Path, os_tools: Any) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    workdir = tmp_path / "sim"
    proc, log_file = sim_process(workdir, "--nodes", "3", "--graceful-timeout", "1")
    try:
        os_tools.wait_until(lambda: (workdir / "sim.json").exists() or proc.poll() is not None, timeout=20)
        assert proc.poll() is None, log_file.read_text()
        yield proc, workdir, log_file
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_description_inventory_and_secret_files(running_sim: tuple[Any, Path, Path]) -> None:
    proc, workdir, log_file = running_sim
    description = json.loads((workdir / "sim.json").read_text())
    assert description["version"] == 1 and description["pid"] == proc.pid
    nodes = description["nodes"]
    assert [n["name"] for n in nodes] == ["n01", "n02", "n03"]
    assert [n["platform"] for n in nodes] == ["ipmi", "redfish", "ipmi"]

    credentials = Path(description["credentials_file"])
    token_file = Path(description["control"]["token_file"])
    for secret in (credentials, token_file):
        assert secret.stat().st_mode & 0o777 == 0o600
    passwords = [entry["password"] for entry in yaml.safe_load(credentials.read_text()).values()]
    assert len(set(passwords)) == 3

    inventory = yaml.safe_load((workdir / "inventory.yml").read_text())
    hosts = inventory["all"]["children"]["sim"]["hosts"]
    assert set(hosts) == {"n01", "n02", "n03"}
    n02 = hosts["n02"]
    assert n02["kraken_platform"] == "redfish"
    assert n02["kraken_bmc_host"] == "127.0.0.1" and n02["kraken_bmc_port"] == nodes[1]["ipmi"]["port"]
    assert n02["kraken_redfish_uri"] == nodes[1]["redfish"]["base_uri"]
    assert n02["kraken_mac"] == nodes[1]["mac"]
    assert n02["kraken_bmc_credentials_file"] == str(credentials)

    secrets_seen = log_file.read_text() + Path(f"/proc/{proc.pid}/cmdline").read_text()
    secrets_seen += (workdir / "sim.json").read_text() + (workdir / "inventory.yml").read_text()
    assert not [password for password in passwords if password in secrets_seen]


def test_control_endpoint_and_real_bmcs_across_processes(
    running_sim: tuple[Any, Path, Path], os_tools: Any, ipmi: Callable[..., Any]
) -> None:
    proc, workdir, _ = running_sim
    description = json.loads((workdir / "sim.json").read_text())
    credentials = yaml.safe_load(Path(description["credentials_file"]).read_text())
    control = ControlClient.from_description(workdir / "sim.json")
    assert control.healthy()
    assert [state.name for state in control.nodes()] == ["n01", "n02", "n03"]

    node = NodeInfo.from_dict(description["nodes"][0], password=credentials["n01"]["password"])
    write_bootfile(description["tftp_root"], node.mac, os_tools.boot_config(node))
    client = ipmi(node, password=node.password)
    assert client.set_power("on", wait=True)["powerstate"] == "on"
    record = os_tools.wait_os_record(node)
    state = control.state("n01")
    assert state.power is PowerState.ON and state.os_state is OsState.RUNNING
    assert state.os_pid == record["pid"]

    assert Fault.OS_CRASH in control.set_fault("n01", Fault.OS_CRASH).faults
    assert control.state("n01").os_state is OsState.CRASHED
    assert control.clear_faults("n01").faults == ()
    assert control.power("n01", "reset").os_state is OsState.RUNNING
    new_pid = control.state("n01").os_pid
    assert new_pid is not None and new_pid != record["pid"]

    with pytest.raises(ControlError) as refused:
        ControlClient(description["control"]["url"]).set_fault("n01", Fault.POWER_STUCK)
    assert refused.value.status == 401
    with pytest.raises(ControlError) as unknown:
        control.set_fault("n01", "meltdown")
    assert unknown.value.status == 400
    with pytest.raises(ControlError) as missing:
        control.state("n42")
    assert missing.value.status == 404

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    os_tools.wait_until(lambda: not os_tools.pid_alive(new_pid), timeout=5)


def test_sigint_stops_cleanly_and_bad_arguments_exit_2(tmp_path: Path, os_tools: Any) -> None:
    workdir = tmp_path / "sim"
    proc, log_file = sim_process(workdir, "--nodes", "2", "--platform", "redfish")
    try:
        os_tools.wait_until(lambda: (workdir / "sim.json").exists() or proc.poll() is not None, timeout=20)
        platforms = {n["platform"] for n in json.loads((workdir / "sim.json").read_text())["nodes"]}
        assert platforms == {"redfish"}
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, log_file.read_text()
        assert "event=sim.stopped" in log_file.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    bad, bad_log = sim_process(tmp_path / "bad", "--nodes", "0")
    assert bad.wait(timeout=20) == 2
    assert "nodes must be between 1" in bad_log.read_text()
