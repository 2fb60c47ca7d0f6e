"""Small catalogs for tests and benchmarks, written in the vocabulary of ``meta/kraken.yml``.

A catalog is described once, as plain data shaped exactly like the two metadata files — ``state`` is
what a collection's ``meta/kraken.yml`` holds under ``state:``, ``roles`` maps a role name to the
entries of its ``mutations:`` — and can then be had two ways:

* :func:`catalog_from` builds the :class:`~reconciler.model.catalog.Catalog` in memory. Hypothesis
  generates hundreds of catalogs per test; writing each one to disk would dominate the run time.
* :func:`write_collection` writes the same description as a collection folder for
  :meth:`Catalog.load`, for tests and benchmarks that must go through the real loader.

Both pass the description through the same pydantic models as the loader and run the catalog's
meaning checks, so a test cannot silently plan on a catalog that the loader would reject. A test
(``tests/unit/graph/test_support_catalogs.py``) keeps the two ways equal.

>>> catalog = catalog_from(
...     {"power": {"values": ["UNKNOWN", "POWER_OFF", "POWER_ON"]}},
...     {"power": [{"name": "discover", "mutates": {"power": {"from": "UNKNOWN", "to": "POWER_OFF"}}}]},
... )
>>> catalog.mutations["test.small.power:discover"].mutates["power"]
('UNKNOWN', 'POWER_OFF')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import CatalogError, Problem
from reconciler.model.catalog import Catalog, Mutation, Role, StateVariable
from reconciler.model.metadata import MutationSpec, RoleMeta, StateVariableSpec
from reconciler.model.types import MutationId
from reconciler.model.validation import validate_catalog

__all__ = ["DEFAULT_COLLECTION", "MutationDecl", "StateDecl", "catalog_from", "write_collection"]

DEFAULT_COLLECTION = "test.small"

StateDecl = Mapping[str, Mapping[str, Any]]
"""``{name: {values: [...], config: ..., knowable_when: ...}}``, as under ``state:``."""

MutationDecl = Mapping[str, Sequence[Mapping[str, Any]]]
"""``{role: [mutation entries]}``, each entry as under a role's ``mutations:``."""

_MEMORY = Path("<memory>")


def catalog_from(state: StateDecl, roles: MutationDecl, *, collection: str = DEFAULT_COLLECTION,
                 validate: bool = True) -> Catalog:
    """The catalog :meth:`Catalog.load` would give for :func:`write_collection`'s folder, built in memory.

    Mutation ids are ``<collection>.<role>:<name>``. Tasks files are not created (they would be in
    :func:`write_collection`), so the "tasks file does not exist" check is the only one skipped;
    any other problem raises :class:`CatalogError` like the loader does.
    """
    catalog = Catalog()
    for name, raw in state.items():
        spec = StateVariableSpec.model_validate(dict(raw))
        catalog.variables[name] = StateVariable(name, spec, collection, f"{_MEMORY}/meta/kraken.yml")
    for role, entries in roles.items():
        fqcn = f"{collection}.{role}"
        meta = RoleMeta.model_validate({"mutations": [dict(e) for e in entries]})
        ids: list[MutationId] = []
        for index, spec in enumerate(meta.mutations):
            mutation = _mutation(fqcn, role, index, spec)
            if mutation.id in catalog.mutations:
                raise CatalogError([Problem(mutation.where, mutation.id, f"duplicate id {mutation.id}")])
            catalog.mutations[mutation.id] = mutation
            ids.append(mutation.id)
        discovers = frozenset(var for spec in meta.mutations for var in spec.mutates)
        catalog.roles[fqcn] = Role(fqcn, _MEMORY / "roles" / role, _MEMORY / "roles" / role / "meta" / "kraken.yml",
                                   discovers, tuple(ids))
    if validate:
        problems = [p for p in validate_catalog(catalog) if not p.key.endswith(" tasks")]
        if problems:
            raise CatalogError(problems)
    return catalog


def write_collection(root: Path, state: StateDecl, roles: MutationDecl, *,
                     collection: str = DEFAULT_COLLECTION) -> Path:
    """Write the description as ``root/<namespace>/<name>`` (galaxy.yml, metadata, empty tasks files).

    Returns ``root``: the folder to pass to :meth:`Catalog.load`.
    """
    namespace, name = collection.split(".")
    folder = root / namespace / name
    (folder / "meta").mkdir(parents=True, exist_ok=True)
    (folder / "galaxy.yml").write_text(yaml.safe_dump({"namespace": namespace, "name": name, "version": "0.1.0"}))
    (folder / "meta" / "kraken.yml").write_text(yaml.safe_dump({"state": _plain(state)}, sort_keys=False))
    for role, entries in roles.items():
        role_dir = folder / "roles" / role
        (role_dir / "meta").mkdir(parents=True, exist_ok=True)
        (role_dir / "tasks").mkdir(exist_ok=True)
        (role_dir / "meta" / "kraken.yml").write_text(yaml.safe_dump({"mutations": _plain(entries)}, sort_keys=False))
        for entry in entries:
            tasks = entry.get("tasks") or f"{entry['name']}.yml"
            (role_dir / "tasks" / tasks).write_text("- ansible.builtin.meta: noop\n")
    return root


def _mutation(fqcn: str, role: str, index: int, spec: MutationSpec) -> Mutation:
    """The loader's own resolution, for a role that lives in memory."""
    role_dir = _MEMORY / "roles" / role
    where = f"{role_dir}/meta/kraken.yml: mutations[{index}]"
    return Mutation.from_spec(spec, role=fqcn, role_dir=role_dir, where=where)


def _plain(data: Any) -> Any:
    """Mappings and sequences as dicts and lists, so ``yaml.safe_dump`` accepts them."""
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, Sequence) and not isinstance(data, str):
        return [_plain(v) for v in data]
    return data
