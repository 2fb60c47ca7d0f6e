"""Catalog checks that need the epistemic graph, and the one entry point that loads a checked catalog.

Some authoring mistakes only show once the graph exists: a ``failto`` value that is no state of the
graph (a timed-out node could never be planned again), or a value a node can be discovered in that
nothing leads out of (the original Layercake's ``runstate=ERROR``: a node that died stayed stuck).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.errors import CatalogError, Problem
from reconciler.graph.epistemic import EpistemicGraph
from reconciler.model.catalog import Catalog

__all__ = ["check_graph", "load_graph"]


def load_graph(paths: Sequence[Path] | None = None) -> tuple[Catalog, EpistemicGraph]:
    """Load the catalog under ``paths``, build its graph and run every check; raises :class:`CatalogError`."""
    catalog = Catalog.load(paths)
    graph = EpistemicGraph.build(catalog)
    problems = check_graph(graph)
    if problems:
        raise CatalogError(problems)
    return catalog, graph


def check_graph(graph: EpistemicGraph) -> list[Problem]:
    """Problems of a catalog that its built graph reveals (empty when there are none)."""
    problems: list[Problem] = []
    catalog = graph.catalog
    nodes = list(graph.graph.nodes)
    for m in catalog.mutations.values():
        for var, value in m.failto.items():
            i = graph.index.get(var)
            if value in catalog.variables[var].spec.terminal:
                continue  # deliberately a dead end: the node waits for a human
            if i is None or not any(state[i] == value for state in nodes):
                problems.append(Problem(
                    m.where, f"{m.id} failto.{var}",
                    f"{var}={value} is not a state of the graph, so a node that timed out here could never "
                    "be planned again",
                    f"add a mutation out of {var}={value} (e.g. `mutates: {{{var}: {{from: {value}, to: ...}}}}`)",
                ))
    for var in graph.variables:
        spec = catalog.variables[var].spec
        left = {source[graph.index[var]] for source, target, _ in graph.edges()
                if source[graph.index[var]] != target[graph.index[var]]}
        for value in (spec.values or [])[1:]:
            if value in spec.terminal or value in left:
                continue
            problems.append(Problem(
                catalog.variables[var].where, f"state.{var}",
                f"a node discovered with {var}={value} can never converge: no mutation leads out of it",
                f"add a mutation with `from: {value}` for {var}, or list {value} under `terminal:` if a human "
                "must intervene",
            ))
    if graph.unknowable:
        for var in sorted(graph.unknowable):
            problems.append(Problem(catalog.variables[var].where, f"state.{var}",
                                    f"{var} can never be known: no discovery mutation of it is reachable from the "
                                    "all-unknown state", "relax the requirements of its discovery mutation"))
    return problems
