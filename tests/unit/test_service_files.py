"""The systemd unit and the install playbook: valid for systemd and Ansible before anyone installs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from farm import kraken_collections_path

PLAYBOOKS = Path("playbooks")


def render_unit(tmp_path: Path) -> Path:
    template = jinja2.Template((PLAYBOOKS / "templates" / "kraken-serve.service.j2").read_text(), trim_blocks=True)
    unit = tmp_path / "kraken-serve.service"
    venv = str(Path(sys.executable).parent.parent)
    unit.write_text(template.render(kraken_venv=venv, kraken_config_dir="/etc/kraken", kraken_user="root",
                                    kraken_state_dir="/var/lib/kraken", kraken_writable_paths=["/srv/tftp"]))
    return unit


def test_unit_waits_for_readiness_restarts_on_failure_and_is_hardened(tmp_path: Path) -> None:
    text = render_unit(tmp_path).read_text()
    for line in ("Type=notify", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ReadWritePaths=/srv/tftp", "StateDirectoryMode=0700", "ExecReload=/bin/kill -HUP $MAINPID",
                 "CapabilityBoundingSet="):
        assert line in text.splitlines(), line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    result = subprocess.run(["systemd-analyze", "verify", str(render_unit(tmp_path))], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "kraken-serve.service" not in result.stderr, result.stderr  # no warning about our unit


@pytest.mark.parametrize("playbook", ["install-reconciler.yml", "install-agent.yml"])
def test_install_playbooks_pass_syntax_check(playbook: str, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("ansible-playbook")
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(kraken_collections_path(tmp_path))}
    result = subprocess.run([str(exe), "--syntax-check", "-i", "localhost,", str(PLAYBOOKS / playbook)],
                            capture_output=True, text=True, timeout=120, check=False, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
