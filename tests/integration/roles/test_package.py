"""Both collections build and install with ansible-galaxy (offline, from the repo); the installed copies validate."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def galaxy(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "ansible.cfg").touch()
    env = {**os.environ, "ANSIBLE_HOME": str(home), "ANSIBLE_CONFIG": str(home / "ansible.cfg")}
    return subprocess.run([str(BIN / "ansible-galaxy"), "collection", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_collections_build_install_and_validate(tmp_path: Path) -> None:
    dist, installed = tmp_path / "dist", tmp_path / "installed"
    tarballs = []
    for name in ("core", "layercake"):
        built = galaxy("build", str(REPO / "collections" / "kraken" / name), "--output-path", str(dist), "--force",
                       home=tmp_path / "home")
        assert built.returncode == 0, built.stdout + built.stderr
        tarball = dist / f"kraken-{name}-0.1.0.tar.gz"
        assert tarball.is_file()
        with tarfile.open(tarball) as archive:
            names = archive.getnames()
        assert "MANIFEST.json" in names and f"roles/{'busy' if name == 'core' else 'pxe'}/meta/kraken.yml" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        tarballs.append(str(tarball))
    done = galaxy("install", *tarballs, "-p", str(installed), "--force", home=tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    root = installed / "ansible_collections" / "kraken"
    assert (root / "layercake" / "plugins" / "modules" / "ipmi_power.py").is_file()
    assert (root / "core" / "roles" / "runstate" / "tasks" / "sync.yml").is_file()

    validate = subprocess.run([str(BIN / "kraken"), "validate", "-c", str(installed)], capture_output=True,
                              text=True, timeout=120, check=False)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "18 mutations" in validate.stdout

    # the installed roles document themselves (argument specs parse, no on/off booleans as entry points)
    doc = subprocess.run([str(BIN / "ansible-doc"), "-t", "role", "-l", "kraken.layercake"], capture_output=True,
                         text=True, timeout=120, check=False,
                         env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed),
                              "ANSIBLE_HOME": str(tmp_path / "home")})
    assert doc.returncode == 0, doc.stderr
    for role in ("kraken.layercake.power_ipmi", "kraken.layercake.power_redfish", "kraken.layercake.pxe",
                 "kraken.layercake.image"):
        assert role in doc.stdout
