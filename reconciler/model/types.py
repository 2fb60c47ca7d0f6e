"""Small shared vocabulary of the state model: identifiers, contexts, durations and enum-value parsing.

These live apart from the file-format models so that the graph, planner and engine can speak about
mutations and values without depending on how they were written in YAML.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, NewType

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "BOOLEAN_HINT",
    "Context",
    "Duration",
    "EnumValue",
    "MutationId",
    "VarName",
    "parse_duration",
]

MutationId = NewType("MutationId", str)
"""``<namespace>.<collection>.<role>:<name>``, e.g. ``kraken.layercake.power_ipmi:power_on``."""

VarName = NewType("VarName", str)
"""A state variable's name as declared under ``state:`` (``power``); ``kraken_<name>`` in inventories."""


class Context(StrEnum):
    """Who runs a mutation's play (DESIGN §4): it never changes the graph, only where the work happens."""

    CHILD = "child"  # the parent runs it on behalf of the node (BMC, PXE)
    SELF = "self"  # the node's own agent runs it (image, runstate on the node)
    ALL = "all"  # whoever holds the node's state may run it


BOOLEAN_HINT = (
    "YAML 1.1 reads unquoted ON/OFF/YES/NO/TRUE/FALSE as booleans; "
    "write the enum value's name (e.g. POWER_ON), quoted if in doubt"
)


def _enum_value(value: Any) -> Any:
    """Reject what YAML turned into a non-string before pydantic coerces or misreports it."""
    if isinstance(value, bool):
        raise ValueError(f"got the YAML boolean {str(value).lower()} where an enum value belongs; {BOOLEAN_HINT}")
    if not isinstance(value, str):
        raise ValueError(f"enum values are names (strings), got {type(value).__name__} {value!r}")
    if not value:
        raise ValueError("an enum value cannot be empty")
    return value


EnumValue = Annotated[str, BeforeValidator(_enum_value)]
"""A value of an enum (or config) variable as written in metadata; booleans get a pointed error."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"1m30s"``, ``"500ms"`` or ``"2h"``; 0 means no timeout.

    >>> parse_duration("1m30s"), parse_duration(10), parse_duration("250ms")
    (90.0, 10.0, 0.25)
    """
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean; write e.g. 10s")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise ValueError(f"{value!r} is not a duration; write e.g. 10s, 1m30s, 500ms or a number of seconds")
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError(f"a duration must be a number of seconds or a string like 10s, got {value!r}")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda s: s, return_type=float),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^(\d+(\.\d+)?|(\d+(\.\d+)?(ms|s|m|h))+)$"},
            ],
            "description": "seconds, or a string such as 10s, 1m30s, 500ms; 0 means none",
        }
    ),
]
