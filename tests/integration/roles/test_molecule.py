"""The molecule scenarios under tests/molecule/ (syntax, converge, idempotence, verify), each against a fresh simulator.

Molecule runs with the default (delegated) driver on localhost, ``MOLECULE_GLOB=tests/molecule/*/molecule.yml``
from the repository root, a private ``ANSIBLE_HOME``, and the collections from the repository through a
symlinked ``ansible_collections`` folder. The simulator (one IPMI and one Redfish node) runs in this process;
its inventory fragment and credentials are in ``$KRAKEN_SIM_DIR``, which the scenarios read.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from farm import kraken_collections_path

from reconciler.sim import Simulator, write_files

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("molecule") is None,
                       reason="molecule is not installed (pip install molecule: the test extra)"),
]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
SCENARIOS = sorted(p.parent.name for p in (REPO / "tests" / "molecule").glob("*/molecule.yml"))


def test_every_scenario_is_collected() -> None:
    assert {"power", "pxe", "image", "agent"} <= set(SCENARIOS)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, tmp_path: Path) -> None:
    collections = kraken_collections_path(tmp_path / "collections")
    home = tmp_path / "ansible-home"
    home.mkdir()
    with Simulator(2, workdir=tmp_path / "sim", platform="alternate", graceful_timeout=1.0) as sim:
        write_files(sim, sim.workdir)
        env = {
            **os.environ,
            "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", os.defpath)]),
            "MOLECULE_GLOB": "tests/molecule/*/molecule.yml",
            "ANSIBLE_HOME": str(home),
            "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
            "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
            "KRAKEN_SIM_DIR": str(sim.workdir),
            "KRAKEN_COLLECTIONS_PATH": str(collections),
            "NO_COLOR": "1",
        }
        (tmp_path / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = False\n")
        done = subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=540, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-8000:]
    assert "idempotence" in done.stdout + done.stderr
