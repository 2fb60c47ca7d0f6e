"""The README's main job: `kraken demo` converges a simulated cluster end to end on this machine."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_kraken_demo_converges_a_simulated_cluster(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("kraken")), "demo", "--nodes", "2", "--format", "json",
         "--listen", f"127.0.0.1:{port}", "--timeout", "240", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["converged"] is True
    assert report["steps"] >= 14  # 7 steps per node, from all unknown to image ACTIVE
    for node in report["nodes"]:
        assert node["discovered"] == {"power": "POWER_ON", "pxe": "INIT", "runstate": "SYNC", "image": "ACTIVE"}
    sim = json.loads((tmp_path / "simfiles" / "sim.json").read_text())
    platforms = {node["platform"] for node in sim["nodes"]}
    assert platforms == {"ipmi", "redfish"}, "one node per power protocol"
    booted = [json.loads((Path(n["node_dir"]) / "state.json").read_text()) for n in sim["nodes"]]
    assert all(state["boot_outcome"] == "booted" for state in booted), booted
