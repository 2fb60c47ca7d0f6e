"""Meaning checks of a loaded catalog: names resolve, values belong to their enums, rules of A1–A3 hold.

Shape problems (a missing key, a boolean where a name belongs) are caught by the pydantic models
while loading; here we check what needs the whole catalog. Checks that need the epistemic graph
(a failto value that is no node of it, a discoverable value with no way out) live in
:mod:`reconciler.graph.checks`. Every check appends to one list so an author sees everything at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from reconciler.errors import Problem

if TYPE_CHECKING:
    from reconciler.model.catalog import Catalog, Mutation, StateVariable

__all__ = ["validate_catalog"]


def validate_catalog(catalog: Catalog, *, complete: bool = True) -> list[Problem]:
    """Every meaning problem of ``catalog`` (empty when it is sound).

    ``complete=False`` (some metadata could not be read) skips the checks about what is missing.
    """
    problems: list[Problem] = []
    for var in catalog.variables.values():
        _check_variable(catalog, var, problems)
    for mutation in catalog.mutations.values():
        _check_mutation(catalog, mutation, problems)
    for probe in catalog.probes.values():
        _check_conditions(catalog, probe.where, f"{probe.id} requires", probe.requires, problems)
        if not probe.tasks_file.is_file():
            problems.append(Problem(str(catalog.roles[probe.role].meta_file), probe.id,
                                    f"tasks file {probe.tasks_file} does not exist",
                                    f"create it or set `tasks:` to an existing file of {probe.role}"))
    for role in catalog.roles.values():
        for name in sorted(role.discovers):
            if name not in catalog.variables:
                problems.append(_unknown_variable(catalog, str(role.meta_file), "discovers", name))
    if complete:
        _check_discovery_exists(catalog, problems)
    return problems


def _check_variable(catalog: Catalog, var: StateVariable, problems: list[Problem]) -> None:
    for other, value in var.spec.knowable_when.items():
        key = f"state.{var.name}.knowable_when.{other}"
        if other not in catalog.variables:
            problems.append(_unknown_variable(catalog, var.where, key, other))
        else:
            _check_value(catalog, var.where, key, other, value, problems)


def _check_mutation(catalog: Catalog, m: Mutation, problems: list[Problem]) -> None:
    where = m.where
    for var, (before, after) in m.mutates.items():
        key = f"{m.id} mutates.{var}"
        spec = catalog.variables.get(var)
        if spec is None:
            problems.append(_unknown_variable(catalog, where, key, var))
            continue
        if not spec.is_enum:
            problems.append(Problem(where, key, f"{var} is config-only ({spec.where}) and cannot be mutated",
                                    "mutate an enum variable; use config variables in requires/excludes"))
            continue
        _check_value(catalog, where, f"{key}.from", var, before, problems)
        _check_value(catalog, where, f"{key}.to", var, after, problems)
        if after == spec.zero:
            problems.append(Problem(where, f"{key}.to", f"{after} is the unknown value of {var}; a mutation "
                                    "cannot make a variable unknown", "mutate to a known value"))
    for field, conditions in (("requires", m.requires), ("excludes", m.excludes)):
        mutated = {var: value for var, value in conditions.items() if var in m.mutates}
        for var in mutated:
            problems.append(Problem(where, f"{m.id} {field}.{var}", f"{var} is mutated by this mutation and also "
                                    f"in {field}", f"remove {var} from {field}: `mutates.{var}.from` already says "
                                    "where it starts"))
        rest = {var: value for var, value in conditions.items() if var not in m.mutates}
        _check_conditions(catalog, where, f"{m.id} {field}", rest, problems)
    for var, value in m.failto.items():
        key = f"{m.id} failto.{var}"
        spec = catalog.variables.get(var)
        if spec is None:
            problems.append(_unknown_variable(catalog, where, key, var))
        elif not spec.is_enum:
            problems.append(Problem(where, key, f"{var} is config-only and cannot be set on failure",
                                    "failto an enum variable"))
        else:
            _check_value(catalog, where, key, var, value, problems)
    if m.timeout > 0 and not m.failto:
        problems.append(Problem(where, f"{m.id} timeout", "a timeout without failto: on expiry the engine "
                                "would not know what the node became", "add failto, e.g. {power: HANG}"))
    if not m.tasks_file.is_file():
        problems.append(Problem(where, f"{m.id} tasks", f"tasks file {m.tasks_file} does not exist",
                                f"create it or set `tasks:` to an existing file of {m.role}"))


def _check_conditions(catalog: Catalog, where: str, key: str, conditions: Mapping[str, str],
                      problems: list[Problem]) -> None:
    """``requires``/``excludes`` of a mutation or probe: declared variables and values of their enums."""
    for var, value in conditions.items():
        if var not in catalog.variables:
            problems.append(_unknown_variable(catalog, where, f"{key}.{var}", var))
        else:
            _check_value(catalog, where, f"{key}.{var}", var, value, problems)


def _check_value(catalog: Catalog, where: str, key: str, var: str, value: str,
                 problems: list[Problem]) -> None:
    spec = catalog.variables[var]
    allowed = spec.values
    if allowed and value not in allowed:
        problems.append(Problem(where, key, f"{value!r} is not a value of {var}",
                                f"use one of {', '.join(allowed)}{_did_you_mean(value, allowed)}"))


def _check_discovery_exists(catalog: Catalog, problems: list[Problem]) -> None:
    """A2: every mutated variable needs a discovery mutation (one whose ``from`` is the unknown value)."""
    for var in catalog.mutation_variables:
        spec = catalog.variables[var]
        if not any(m.mutates.get(var, ("", ""))[0] == spec.zero for m in catalog.mutations.values()):
            problems.append(Problem(spec.where, f"state.{var}",
                                    f"{var} is mutated but no mutation discovers it (none moves it from "
                                    f"{spec.zero})", f"add a discovery mutation with `from: {spec.zero}`"))


def _unknown_variable(catalog: Catalog, where: str, key: str, var: str) -> Problem:
    known = list(catalog.variables)
    return Problem(where, key, f"unknown variable {var!r}",
                   f"declare it under `state:` in a collection's meta/kraken.yml, or use one of "
                   f"{', '.join(known) or '(none declared)'}{_did_you_mean(var, known)}")


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
