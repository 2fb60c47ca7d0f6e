"""The planner: for one host, the cheapest chain of mutations from its discovered state to its desired state.

Inputs are plain mappings by variable name — desired values (``kraken_<var>`` from the inventory),
config values (``platform``, ``image_name``) and discovered values — so the planner knows nothing of
inventories, stores or engines. Requirements and excludes on variables no mutation moves are
evaluated here, per host, against config overlaid by discoveries (after forgetting what cannot be
known): they switch edges of the shared graph off for this host.

Results are memoized on (stripped start, goal, switched-off mutations): a fleet of 10,000 hosts in a
handful of distinct situations costs a handful of searches.

When no chain exists the reason names what blocks it — the exclude that holds, the requirement that
fails, the value nothing leads to — because "no path" at 3 a.m. is not an answer.

>>> from pathlib import Path
>>> from reconciler.model.catalog import Catalog
>>> from reconciler.graph.epistemic import EpistemicGraph
>>> planner = Planner(EpistemicGraph.build(Catalog.load([Path("collections")])))
>>> plan = planner.plan(desired={"power": "POWER_ON"}, discovered={}, config={"platform": "ipmi"})
>>> [step.mutation for step in plan.steps]
['kraken.layercake.power_ipmi:discover', 'kraken.layercake.power_ipmi:power_on']
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.graph.epistemic import EpistemicGraph, State
from reconciler.model.catalog import Mutation
from reconciler.model.reports import PlanStatus
from reconciler.model.types import Context, MutationId

__all__ = ["Plan", "PlanStatus", "Planner", "Step"]

_BLOCKED_PENALTY = 1_000_000.0  # cost of a switched-off edge when searching for an explanation


@dataclass(frozen=True)
class Step:
    """One mutation of a chain, as ``kraken plan --format json`` shows it (DESIGN §5)."""

    mutation: MutationId
    context: Context
    mutates: Mapping[str, tuple[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {"mutation": self.mutation, "context": self.context.value,
                "mutates": {var: [a, b] for var, (a, b) in self.mutates.items()}}


@dataclass(frozen=True)
class Plan:
    """What the planner decided for one host."""

    status: PlanStatus
    steps: tuple[Step, ...] = ()
    reason: str = ""
    start: Mapping[str, str] = field(default_factory=dict)  # known values the search started from

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "steps": [s.to_json() for s in self.steps], "reason": self.reason}


@dataclass(frozen=True)
class _Filter:
    """A requirement or exclude on a variable no mutation moves: evaluated per host."""

    mutation: MutationId
    var: str
    value: str
    excludes: bool
    must_be_known: bool  # a zero-value exclude: the variable must be known

    def blocks(self, context: Mapping[str, str]) -> bool:
        current = context.get(self.var)
        if self.must_be_known:
            return current is None or current == self.value
        if self.excludes:
            return current == self.value
        return current != self.value


_Key = tuple[State, tuple[tuple[int, str], ...], frozenset[MutationId]]


class Planner:
    """Plans chains on one :class:`EpistemicGraph`; cheap to call once per host."""

    def __init__(self, graph: EpistemicGraph) -> None:
        self.graph = graph
        catalog = graph.catalog
        self._filters: list[_Filter] = []
        for m in catalog.mutations.values():
            for var, value in m.requires.items():
                if var not in graph.index:
                    self._filters.append(_Filter(m.id, var, value, False, False))
            for var, value in m.excludes.items():
                if var not in graph.index:
                    spec = catalog.variables[var]
                    zero = spec.is_enum and value == spec.zero
                    self._filters.append(_Filter(m.id, var, value, True, zero))
        self._memo: dict[_Key, tuple[MutationId, ...] | None] = {}

    def plan(self, *, desired: Mapping[str, str], discovered: Mapping[str, str],
             config: Mapping[str, str] | None = None) -> Plan:
        """The chain for one host.

        ``desired`` holds the host's desired values (mutation variables are goals; any other name is
        treated like config), ``discovered`` what was observed (absent = unknown), ``config`` the
        host's config-only values such as ``platform``.
        """
        graph = self.graph
        wanted, note = self._knowable_goal({var: value for var, value in desired.items() if var in graph.index})
        goal = tuple(sorted((graph.index[var], value) for var, value in wanted.items()))
        context = self._context(desired, discovered, config or {})
        start = graph.strip(graph.state_of({k: v for k, v in context.items() if k in graph.index}))
        known = graph.known(start)
        if not goal:
            return Plan(PlanStatus.UNMANAGED, reason="no kraken_<var> is set for a variable any mutation moves",
                        start=known)
        if _matches(start, goal):
            return Plan(PlanStatus.CONVERGED, reason=note, start=known)
        disabled = frozenset(f.mutation for f in self._filters if f.blocks(context))
        key = (start, goal, disabled)
        if key not in self._memo:
            self._memo[key] = self._search(start, goal, disabled)
        chain = self._memo[key]
        if chain is None:
            reason = self._explain(start, goal, disabled, context, discovered)
            return Plan(PlanStatus.BLOCKED, reason="; ".join(filter(None, [reason, note])), start=known)
        steps = tuple(self._step(graph.mutation(ident)) for ident in chain)
        return Plan(PlanStatus.PLANNED, steps=steps, reason=note, start=known)

    def path_states(self, plan: Plan) -> list[State]:
        """The states a planned chain passes through, start included (for highlighting in graphs)."""
        state = self.graph.strip(self.graph.state_of(dict(plan.start)))
        states = [state]
        for step in plan.steps:
            state = next(t for ident, t, _ in self.graph.successors(state) if ident == step.mutation)
            states.append(state)
        return states

    # -- internals ----------------------------------------------------------------------------------

    def _knowable_goal(self, desired: Mapping[str, str]) -> tuple[dict[str, str], str]:
        """Desired values minus those the other desired values make unknowable, and a note saying so.

        ``kraken_power: POWER_OFF`` on one host of a group with ``kraken_image: ACTIVE`` means "power it
        off": an image cannot be known on a node without power, so that desired value is set aside
        (and said so) rather than blocking the host.
        """
        wanted = dict(desired)
        notes = []
        changed = True
        while changed:
            changed = False
            for var, value in list(wanted.items()):
                if value == self.graph.catalog.variables[var].zero:
                    continue
                for other, needed in self.graph.epistemology[var].items():
                    if other in wanted and wanted[other] != needed:
                        notes.append(f"kraken_{var}={value} is set aside while {other}={wanted[other]}: "
                                     f"{var} can only be known while {other}={needed}")
                        del wanted[var]
                        changed = True
                        break
        return wanted, "; ".join(notes)

    def _context(self, desired: Mapping[str, str], discovered: Mapping[str, str],
                 config: Mapping[str, str]) -> dict[str, str]:
        merged = {k: v for k, v in {**desired, **config}.items() if k not in self.graph.index}
        merged.update(discovered)
        return self.graph.forget_unknowables(merged)

    @staticmethod
    def _step(m: Mutation) -> Step:
        return Step(m.id, m.context, dict(m.mutates))

    def _search(self, start: State, goal: tuple[tuple[int, str], ...], disabled: frozenset[MutationId],
                penalty: float | None = None) -> tuple[MutationId, ...] | None:
        """Dijkstra from ``start`` to the nearest state matching ``goal``; ties broken by mutation id."""
        counter = itertools.count()
        best: dict[State, float] = {start: 0.0}
        previous: dict[State, tuple[State, MutationId]] = {}
        heap: list[tuple[float, int, State]] = [(0.0, next(counter), start)]
        while heap:
            cost, _, state = heapq.heappop(heap)
            if cost > best[state]:
                continue
            if _matches(state, goal):
                chain: list[MutationId] = []
                while state != start:
                    state, ident = previous[state]
                    chain.append(ident)
                return tuple(reversed(chain))
            for ident, target, step_cost in self.graph.successors(state):
                if ident in disabled:
                    if penalty is None:
                        continue
                    step_cost += penalty
                total = cost + step_cost
                if total < best.get(target, float("inf")):
                    best[target] = total
                    previous[target] = (state, ident)
                    heapq.heappush(heap, (total, next(counter), target))
        return None

    def _explain(self, start: State, goal: tuple[tuple[int, str], ...], disabled: frozenset[MutationId],
                 context: Mapping[str, str], discovered: Mapping[str, str]) -> str:
        graph = self.graph
        wanted = ", ".join(f"{graph.variables[i]}={v}" for i, v in goal)
        if disabled:
            chain = self._search(start, goal, disabled, penalty=_BLOCKED_PENALTY)
            if chain is not None:
                return self._explain_filters(chain, disabled, context, discovered)
        for i, value in goal:
            var = graph.variables[i]
            if start[i] != value and start[i] in graph.catalog.variables[var].spec.terminal:
                return f"{var}={start[i]} is terminal: no mutation leads out of it; a human must intervene"
            if not any(state[i] == value for state in graph.graph.nodes):
                return f"no mutation leads to {var}={value}"
        conflict = self._conflict(goal)
        if conflict:
            return conflict
        here = ", ".join(f"{k}={v}" for k, v in graph.known(start).items()) or "all unknown"
        return f"no chain of mutations leads from ({here}) to ({wanted})"

    def _explain_filters(self, chain: tuple[MutationId, ...], disabled: frozenset[MutationId],
                         context: Mapping[str, str], discovered: Mapping[str, str]) -> str:
        """Name each condition that switches off a step of the otherwise cheapest chain."""
        by_condition: dict[tuple[str, str, bool], list[MutationId]] = {}
        for ident in chain:
            if ident not in disabled:
                continue
            for f in self._filters:
                if f.mutation == ident and f.blocks(context):
                    by_condition.setdefault((f.var, f.value, f.excludes), []).append(ident)
        parts = []
        for (var, value, excludes), idents in by_condition.items():
            current = context.get(var)
            source = "discovered" if var in discovered else "inventory"
            names = ", ".join(idents)
            if excludes and current is not None and current == value:
                parts.append(f"{var}={current} ({source}) blocks {names} (excludes {var}={value})")
            elif excludes:
                parts.append(f"{var} is not known, and {names} needs it known")
            elif current is None:
                parts.append(f"{names} requires {var}={value}, but {var} is not set")
            else:
                parts.append(f"{names} requires {var}={value}, but {var}={current} ({source})")
        return "; ".join(parts)

    def _conflict(self, goal: tuple[tuple[int, str], ...]) -> str:
        """Why no state of the graph has all desired values together, if that is the case."""
        graph = self.graph
        wanted = {graph.variables[i]: v for i, v in goal}
        if not any(_matches(state, goal) for state in graph.graph.nodes):
            return "no state of the graph has " + ", ".join(f"{k}={v}" for k, v in wanted.items()) + " together"
        return ""


def _matches(state: State, goal: tuple[tuple[int, str], ...]) -> bool:
    return all(state[i] == value for i, value in goal)
