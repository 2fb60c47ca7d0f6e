"""Generate ``schemas/*.schema.json`` from the pydantic models (the models are the source of truth).

Run ``python -m reconciler.model.schemas schemas`` after changing a model; a test fails while the
committed files differ from what the models produce.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from reconciler.model.heartbeat import ChildHeartbeat, ParentHeartbeat
from reconciler.model.metadata import CollectionMeta, RoleMeta
from reconciler.model.reports import PlanReport, ValidationReport
from reconciler.model.runrecords import CallbackRecord

__all__ = ["SCHEMAS", "generate", "render_schema"]

SCHEMAS: dict[str, type[BaseModel]] = {
    "collection-meta": CollectionMeta,
    "role-meta": RoleMeta,
    "plan-report": PlanReport,
    "validation-report": ValidationReport,
    "callback-record": CallbackRecord,
    "heartbeat-parent": ParentHeartbeat,
    "heartbeat-child": ChildHeartbeat,
}


def render_schema(model: type[BaseModel], name: str) -> str:
    schema = model.model_json_schema(by_alias=True)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{name}.schema.json", **schema}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def generate(folder: Path) -> list[Path]:
    """Write every schema into ``folder``; returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = folder / f"{name}.schema.json"
        path.write_text(render_schema(model, name), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - a developer tool
    for written_path in generate(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(written_path)
