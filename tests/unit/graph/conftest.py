"""Shared set-up for the graph tests: the catalog helpers of ``tests/support`` and the real catalog.

``tests`` has no ``__init__.py`` and pytest runs with ``--import-mode=importlib``, so the helper
module is made importable by putting its folder on ``sys.path`` here, once, for every test below.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "tests" / "support"))

from reconciler.graph.epistemic import EpistemicGraph  # noqa: E402
from reconciler.model.catalog import Catalog  # noqa: E402


@pytest.fixture(scope="session")
def layercake_graph() -> EpistemicGraph:
    """The graph of the shipped collections (kraken.core + kraken.layercake), built once per session."""
    return EpistemicGraph.build(Catalog.load([REPO / "collections"]))
