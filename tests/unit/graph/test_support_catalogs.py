"""The in-memory catalog helper must give what the real loader gives, or every test built on it lies."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalogs import catalog_from, write_collection

from reconciler.errors import CatalogError
from reconciler.model.catalog import Catalog

STATE = {
    "power": {"values": ["UNKNOWN", "POWER_OFF", "POWER_ON"]},
    "platform": {"config": True},
}
ROLES = {
    "ipmi": [
        {"name": "discover", "mutates": {"power": {"from": "UNKNOWN", "to": "POWER_OFF"}},
         "requires": {"platform": "ipmi"}},
        {"name": "power_on", "mutates": {"power": {"from": "POWER_OFF", "to": "POWER_ON"}},
         "requires": {"platform": "ipmi"}, "cost": 2},
    ],
}


def _essence(catalog: Catalog) -> dict[str, tuple[object, ...]]:
    """What the graph and planner read from a mutation (not where it was declared)."""
    return {ident: (m.role, m.name, dict(m.mutates), dict(m.requires), dict(m.excludes), m.cost, m.context,
                    m.tasks_file.name) for ident, m in catalog.mutations.items()}


def test_memory_catalog_equals_loaded_catalog(tmp_path: Path) -> None:
    loaded = Catalog.load([write_collection(tmp_path, STATE, ROLES)])
    built = catalog_from(STATE, ROLES)
    assert _essence(built) == _essence(loaded)
    assert {n: v.spec for n, v in built.variables.items()} == {n: v.spec for n, v in loaded.variables.items()}
    assert built.mutation_variables == loaded.mutation_variables == ["power"]


def test_memory_catalog_rejects_what_the_loader_rejects() -> None:
    """A mutated variable without a discovery mutation (A2) is refused in memory as on disk."""
    roles = {"ipmi": [ROLES["ipmi"][1]]}
    with pytest.raises(CatalogError, match="no mutation discovers it"):
        catalog_from(STATE, roles)
