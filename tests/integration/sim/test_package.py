"""The public surface of reconciler.sim and its independence from the rest of the reconciler."""

from __future__ import annotations

import subprocess
import sys

import reconciler.sim


def test_exported_names_are_pinned() -> None:
    assert sorted(reconciler.sim.__all__) == [
        "BootConfig", "BootFileBroken", "BootFileError", "BootFileMissing", "BootOutcome", "ControlClient",
        "ControlError", "Fault", "NodeInfo", "NodeState", "OsState", "Platform", "PlatformPolicy",
        "PowerState", "SimConfigError", "SimError", "SimFiles", "Simulator", "bootfile_path",
        "load_bootfile", "parse_bootfile", "write_bootfile", "write_files",
    ]
    for name in reconciler.sim.__all__:
        assert getattr(reconciler.sim, name) is not None


def test_imports_nothing_else_from_reconciler() -> None:
    code = (
        "import sys, reconciler.sim, reconciler.sim.__main__\n"
        "print(sorted(m for m in sys.modules if m.startswith('reconciler.') "
        "and not m.startswith('reconciler.sim')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == "[]"
