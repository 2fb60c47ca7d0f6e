"""The collections and the molecule scenarios pass ansible-lint (offline, production profile)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from farm import kraken_collections_path

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("ansiblelint") is None,
                       reason="ansible-lint is not installed (pip install ansible-lint: the test extra)"),
]

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def test_ansible_lint_is_clean(tmp_path: Path) -> None:
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(kraken_collections_path(tmp_path)),
           "ANSIBLE_HOME": str(tmp_path / "home"),
           "NO_COLOR": "1", "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", os.defpath)])}
    done = subprocess.run([str(BIN / "ansible-lint"), "--offline", "-c", "collections/.ansible-lint", "-f", "pep8",
                           "collections", "tests/molecule"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
