"""The agent install role's refusals: each names what to fix, and nothing is installed before it is fixed.

The installation itself (package, 0600 key, unit checked by systemd-analyze, idempotence) is the molecule
scenario ``tests/molecule/agent``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from farm import kraken_collections_path

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


def converge(tmp_path: Path, **hostvars: object) -> subprocess.CompletedProcess[str]:
    node = tmp_path / "node"
    variables = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "kraken_agent_venv": str(node / "venv"), "kraken_key_file": str(node / "node.key"),
        "kraken_agent_state_dir": str(node / "state"), "kraken_agent_unit_dir": str(node),
        "kraken_agent_service": False, **hostvars,
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"n1": variables}}}))
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{"hosts": "all", "gather_facts": False,
                                                          "roles": ["kraken.core.agent"]}]))
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(kraken_collections_path(tmp_path / "collections")),
           "ANSIBLE_HOME": str(tmp_path / "home"), "NO_COLOR": "1",
           "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", os.defpath)])}
    command = [str(BIN / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=180, check=False)


def test_a_node_without_a_parent_is_refused(tmp_path: Path) -> None:
    done = converge(tmp_path)
    assert done.returncode != 0
    assert "kraken_agent_parent is \"\": set it to HOST:PORT" in done.stdout, done.stdout
    assert not (tmp_path / "node").exists()


def test_an_unsafe_secret_is_refused_with_its_fix_and_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "sync.secret"
    secret.write_text("s" * 48 + "\n")
    secret.chmod(0o644)
    done = converge(tmp_path, kraken_agent_parent="127.0.0.1:31415", kraken_agent_secret_file=str(secret))
    assert done.returncode != 0
    assert f"run `chmod 600 {secret}`" in done.stdout, done.stdout
    assert "s" * 48 not in done.stdout + done.stderr
    assert not (tmp_path / "node").exists()
