"""Observed state from a file, for ``kraken plan --observed FILE`` (DESIGN §5).

The file is YAML ``{host: {var: VALUE}}``: what the reconciler would have discovered so far. A host or a
variable absent from it is unknown (the variable's zero value). Any enum variable of the catalog may appear,
including ones only ever discovered (``busy``); config-only variables may not — they come from the inventory.
Every problem is reported at once, at its ``file:line``, as one :class:`~reconciler.errors.ObservedStateError`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import ObservedStateError, Problem
from reconciler.inventory._hints import literal_at, suggest_value
from reconciler.model.catalog import Catalog
from reconciler.model.types import BOOLEAN_HINT
from reconciler.model.yamlfile import YamlDocument, load_yaml

__all__ = ["load_observed"]


def load_observed(path: Path, catalog: Catalog) -> dict[str, dict[str, str]]:
    """``{host: {var: value}}`` from ``path``, every value checked against its enum.

    Raises :class:`ObservedStateError` listing every problem (unreadable file, bad YAML, wrong shape,
    unknown or config-only variables, values outside their enum, YAML booleans).
    """
    doc = _read(path)
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        raise ObservedStateError([Problem(doc.where(()), "", f"must be a mapping of host to variables, "
                                          f"got {_kind(doc.data)}", "write host: {power: POWER_ON, ...}")])
    problems: list[Problem] = []
    observed: dict[str, dict[str, str]] = {}
    for host, variables in doc.data.items():
        values = _host(doc, str(host), variables, catalog, problems)
        if values is not None:
            observed[str(host)] = values
    if problems:
        raise ObservedStateError(problems)
    return observed


def _read(path: Path) -> YamlDocument:
    try:
        return load_yaml(path)
    except OSError as exc:
        raise ObservedStateError([Problem(str(path), "", f"cannot be read: {exc.strerror or exc}",
                                          "pass an existing YAML file to --observed")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ObservedStateError([Problem(where, "", f"is not valid YAML: {problem}", "fix the YAML syntax")]) from exc


def _host(doc: YamlDocument, host: str, variables: Any, catalog: Catalog,
          problems: list[Problem]) -> dict[str, str] | None:
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        problems.append(Problem(doc.where((host,)), host, f"must be a mapping of variable to value, "
                                f"got {_kind(variables)}", f"write {host}: {{power: POWER_ON, ...}}"))
        return None
    values: dict[str, str] = {}
    for var, value in variables.items():
        checked = _value(doc, host, str(var), value, catalog, problems)
        if checked is not None:
            values[str(var)] = checked
    return values


def _value(doc: YamlDocument, host: str, var: str, value: Any, catalog: Catalog,
           problems: list[Problem]) -> str | None:
    where = doc.where((host, var))
    key = f"{host}.{var}"
    variable = catalog.variables.get(var)
    enums = [name for name, v in catalog.variables.items() if v.is_enum]
    if variable is None:
        close = difflib.get_close_matches(var.removeprefix("kraken_"), enums, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        problems.append(Problem(where, key, f"unknown variable {var!r}", f"{hint}observed variables are "
                                f"{', '.join(enums)}"))
        return None
    listed = ", ".join(variable.values)
    if not variable.is_enum:
        problems.append(Problem(where, key, f"{var} is config-only: it comes from the inventory, it is never observed",
                                f"remove it; observed variables are {', '.join(enums)}"))
    elif isinstance(value, bool):
        literal = literal_at(where, var)
        guess = suggest_value(literal or "", variable.values)
        written = f"{literal} was read as" if literal else "got"
        problems.append(Problem(where, key, f"{written} the YAML boolean {str(value).lower()}, not a value of {var}",
                                f"{BOOLEAN_HINT}; {var} takes one of {listed}" + (f"; write {guess}" if guess else "")))
    elif not isinstance(value, str) or value not in variable.values:
        guess = suggest_value(str(value), variable.values)
        problems.append(Problem(where, key, f"{value!r} is not a value of {var}",
                                (f"did you mean {guess}? " if guess else "") + f"use one of {listed}"))
    else:
        return value
    return None


def _kind(value: Any) -> str:
    return "a list" if isinstance(value, list) else f"{type(value).__name__} {value!r}"
