"""The README's main job: `kraken demo` converges a simulated cluster end to end, then rolls it to a new image."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.engine.persistence import StateDB

pytestmark = pytest.mark.integration


def test_kraken_demo_converges_a_simulated_cluster(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("kraken")), "demo", "--nodes", "2", "--format", "json",
         "--listen", f"127.0.0.1:{port}", "--timeout", "300", "--workdir", str(tmp_path), "--roll", "demo-2026.12"],
        capture_output=True, text=True, timeout=360, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["converged"] is True
    assert report["steps"] >= 14  # 6-7 steps per node to image ACTIVE (a probe may see the image first), 1 update
    for node in report["nodes"]:
        assert node["discovered"] == {"power": "POWER_ON", "pxe": "INIT", "runstate": "SYNC", "image": "ACTIVE",
                                      "busy": "FREE"}  # busy: the busy probe, once the node is in SYNC
    sim = json.loads((tmp_path / "simfiles" / "sim.json").read_text())
    platforms = {node["platform"] for node in sim["nodes"]}
    assert platforms == {"ipmi", "redfish"}, "one node per power protocol"
    booted = [json.loads((Path(n["node_dir"]) / "state.json").read_text()) for n in sim["nodes"]]
    assert all(state["boot_outcome"] == "booted" for state in booted), booted
    # the rolling update: an inventory edit, seen by the image probe (UPDATE), done by image:update on each node
    assert report["rolled"] is True
    running = {(Path(n["node_dir"]) / "fs" / "image" / "running").read_text().strip() for n in sim["nodes"]}
    assert running == {"demo-2026.12"}
    db = StateDB(tmp_path / "state" / "state.db", read_only=True)
    try:
        updates = [e.host for e in db.events(limit=10_000, kinds=["step_succeeded"])
                   if e.mutation == "kraken.layercake.image:update"]
        started_by = [e for e in db.events(limit=10_000, kinds=["discovered"]) if e.message == "image=UPDATE"]
    finally:
        db.close()
    assert sorted(updates) == ["n01", "n02"]
    assert all("kraken.layercake.image:check" in e.data["source"] for e in started_by) and len(started_by) == 2
