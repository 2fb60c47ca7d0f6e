"""A 50-node simulator starts and stops cleanly: no process, thread, socket or port survives stop."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.sim import Fault, Simulator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SIM_THREADS = ("kraken-sim-loop", "redfish-", "sim-shutdown-", "sim-control")


def sim_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(SIM_THREADS)]


def test_fifty_nodes_start_and_stop_without_leaks(
    tmp_path: Path, os_tools: Any, fd_count: Callable[[], int], record_property: Callable[[str, Any], None]
) -> None:
    fds_before = fd_count()
    sim = Simulator(50, workdir=tmp_path / "sim", control=True)
    began = time.perf_counter()
    sim.start()
    start_seconds = time.perf_counter() - began
    record_property("sim_start_seconds_50_nodes", round(start_seconds, 4))
    print(f"50-node simulator started in {start_seconds:.3f}s")
    try:
        nodes = sim.nodes
        assert len(nodes) == 50
        assert len({n.ipmi_port for n in nodes}) == 50  # UDP
        assert len({n.redfish_port for n in nodes}) == 50  # TCP (a separate port space)
        assert all(n.ipmi_host == "127.0.0.1" for n in nodes)
        booted = nodes[:6]
        for node in booted:
            os_tools.write_boot(sim, node, "spawn")
            sim.power(node.name, "on")
        records = [os_tools.wait_os_record(node) for node in booted]
        sim.power(booted[0].name, "shutdown")  # a graceful shutdown still in progress at stop
        sim.set_fault(nodes[10].name, Fault.BMC_UNRESPONSIVE)
        held = socket.create_connection(("127.0.0.1", nodes[10].redfish_port), timeout=5)
        time.sleep(0.2)  # the held connection is being served (silently) by a thread now
    finally:
        began = time.perf_counter()
        sim.stop()
        print(f"50-node simulator stopped in {time.perf_counter() - began:.3f}s")
    held.close()

    pids = [record[key] for record in records for key in ("pid", "child")]
    os_tools.wait_until(lambda: not any(os_tools.pid_alive(pid) for pid in pids), timeout=5)
    assert sim_threads() == []
    assert fd_count() == fds_before, "every socket, pipe and log file the simulator opened is closed"
    for node in nodes[:5]:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", node.redfish_port), timeout=2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", node.ipmi_port))  # the IPMI port is free again
    sim.stop()  # idempotent


def test_stop_is_registered_at_exit_and_unregistered_after(tmp_path: Path) -> None:
    import atexit

    with Simulator(1, workdir=tmp_path / "sim") as sim:
        assert sim.running
    assert not sim.running
    assert atexit.unregister(sim.stop) is None  # already unregistered: nothing to do


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    from reconciler.sim import SimConfigError

    with pytest.raises(SimConfigError, match="loopback"):
        Simulator(1, workdir=tmp_path, host="0.0.0.0")
    with pytest.raises(SimConfigError, match="between 1 and"):
        Simulator(0, workdir=tmp_path)
    with pytest.raises(SimConfigError, match="platform must be one of"):
        Simulator(1, workdir=tmp_path, platform="ilo")
    with pytest.raises(SimConfigError, match="20 bytes"):
        Simulator(1, workdir=tmp_path, password="x" * 21)
