"""The JSON Schemas in schemas/ are generated from the pydantic models and must not go stale."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from reconciler.model.schemas import SCHEMAS, render_schema

SCHEMA_DIR = Path("schemas")


def test_committed_schemas_match_the_models() -> None:
    stale = [name for name, model in SCHEMAS.items()
             if not (SCHEMA_DIR / f"{name}.schema.json").is_file()
             or (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8") != render_schema(model, name)]
    assert not stale, f"schemas {stale} are stale: run `make schemas` (python -m reconciler.model.schemas schemas)"


def test_no_schema_file_without_a_model() -> None:
    orphans = {p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")} - set(SCHEMAS)
    assert not orphans


def test_shipped_role_metadata_satisfies_the_published_schema() -> None:
    """Editors validate meta/kraken.yml against schemas/role-meta.schema.json: it must accept what we ship."""
    role_schema = json.loads((SCHEMA_DIR / "role-meta.schema.json").read_text())
    collection_schema = json.loads((SCHEMA_DIR / "collection-meta.schema.json").read_text())
    for meta in Path("collections").glob("*/*/roles/*/meta/kraken.yml"):
        jsonschema.validate(yaml.safe_load(meta.read_text()), role_schema)
    for meta in Path("collections").glob("*/*/meta/kraken.yml"):
        jsonschema.validate(yaml.safe_load(meta.read_text()), collection_schema)
