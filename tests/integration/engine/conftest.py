"""Fixtures of the engine scenarios: the catalog with the acme.lab test collection, and a fresh lab."""

from __future__ import annotations

from pathlib import Path

import pytest
from enginelab import COLLECTIONS, Lab

from reconciler.graph.checks import load_graph


@pytest.fixture(scope="session")
def catalog_graph():
    return load_graph(COLLECTIONS)


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)
