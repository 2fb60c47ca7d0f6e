"""Test-wide set-up: helper modules in tests/support are importable (tests have no __init__.py and run
with --import-mode=importlib)."""

from __future__ import annotations

import sys
from pathlib import Path

SUPPORT = str(Path(__file__).resolve().parent / "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)
