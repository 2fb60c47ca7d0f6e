"""The epistemic state graph (paper §3.2): which states a node can be *known* to be in, and how mutations move it.

A graph node is a full assignment of the *mutation variables* (enum variables some mutation moves),
the unknown value standing for "not known". Requirements and excludes on mutation variables are
*structural* (they decide which edges exist); on any other variable they are per-host *filters*
applied by the planner, so one graph serves every platform.

It is built in the paper's three phases:

1. **Expansion.** From the all-unknown root, follow every mutation that can leave a state (out-wise)
   and every mutation that can arrive at it (in-wise, by rewinding its ``to`` values to its ``from``
   values) until no new state appears: the weakly connected component of the root in the state graph.
   In-wise expansion matters because discoveries report what they find: a node discovered as
   ``image=UPDATE`` is in a state no mutation leads to, yet one (``UPDATE→ACTIVE``) leads out of it.
2. **Epistemology.** For each variable, the values every tail of its discovery edges has in common
   (a discovery edge moves it from unknown), leaving out the variables that discovery itself changes
   and unknown values. That is what must hold for the variable to be known.
3. **Stripping.** Each state forgets what it cannot know (repeatedly: forgetting one value can make
   another unknowable); equal states merge; edges are re-derived between stripped states, dropping those
   whose effect is immediately forgotten (self-loops) and duplicates.

The same epistemology is the runtime helper :meth:`EpistemicGraph.forget_unknowables`: a node that
loses power forgets its image state.

>>> from pathlib import Path
>>> from reconciler.model.catalog import Catalog
>>> graph = EpistemicGraph.build(Catalog.load([Path("collections")]))
>>> graph.epistemology["image"]["runstate"]
'SYNC'
>>> graph.forget_unknowables({"power": "POWER_OFF", "image": "ACTIVE"})["image"]
'UNKNOWN'
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import networkx as nx

from reconciler.model.catalog import Catalog, Mutation
from reconciler.model.types import MutationId

__all__ = ["EpistemicGraph", "State"]

_MAX_REFINEMENTS = 16

State = tuple[str, ...]
"""Values of the graph's mutation variables, in :attr:`EpistemicGraph.variables` order."""


@dataclass(frozen=True)
class _Guard:
    """A mutation compiled against the variable order: index/value pairs, for fast checks."""

    mutation: Mutation
    before: tuple[tuple[int, str], ...]  # from values and structural requires
    forbidden: tuple[tuple[int, str], ...]  # structural excludes
    after: tuple[tuple[int, str], ...]  # to values
    rewind: tuple[tuple[int, str], ...]  # from values only

    def applies(self, state: State) -> bool:
        return all(state[i] == v for i, v in self.before) and all(state[i] != v for i, v in self.forbidden)

    def apply(self, state: State) -> State:
        values = list(state)
        for i, v in self.after:
            values[i] = v
        return tuple(values)

    def arrived(self, state: State) -> bool:
        return all(state[i] == v for i, v in self.after)

    def unapply(self, state: State) -> State:
        values = list(state)
        for i, v in self.rewind:
            values[i] = v
        return tuple(values)


class EpistemicGraph:
    """The epistemic state graph of a catalog, plus the epistemology derived while building it."""

    def __init__(self, catalog: Catalog, variables: list[str]) -> None:
        self.catalog = catalog
        self.variables: tuple[str, ...] = tuple(variables)
        self.index = {name: i for i, name in enumerate(self.variables)}
        self.zero: State = tuple(catalog.variables[v].zero for v in self.variables)
        self.root: State = self.zero
        self.guards: dict[MutationId, _Guard] = {}
        for mutation in catalog.mutations.values():
            self.guards[mutation.id] = self._compile(mutation)
        self.epistemology: dict[str, dict[str, str]] = {}
        self.unknowable: set[str] = set()
        self.graph: nx.MultiDiGraph = nx.MultiDiGraph()
        self._strip_cache: dict[State, State] = {}
        self._successor_cache: dict[State, list[tuple[MutationId, State, float]]] = {}
        self._sorted_guards = sorted(self.guards.values(), key=lambda g: g.mutation.id)
        self._out: dict[tuple[int, str], list[_Guard]] = {}
        self._in: dict[tuple[int, str], list[_Guard]] = {}
        for guard in self.guards.values():
            first_var, first_from = guard.rewind[0]
            self._out.setdefault((first_var, first_from), []).append(guard)
            first_to = guard.after[0]
            self._in.setdefault(first_to, []).append(guard)

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def build(cls, catalog: Catalog) -> EpistemicGraph:
        """Run the three phases on ``catalog`` (which must be valid: see :meth:`Catalog.load`)."""
        graph = cls(catalog, catalog.mutation_variables)
        states, raw_edges = graph._expand()
        edges: Iterable[tuple[State, _Guard, State]] = raw_edges
        seen: list[tuple[dict[str, dict[str, str]], set[str]]] = []
        for _ in range(_MAX_REFINEMENTS):
            graph._derive_epistemology(edges)
            derived = (graph.epistemology, graph.unknowable)  # unknowable vars also have {} as epistemology
            if derived in seen:
                if derived != seen[-1]:
                    # The refinement cycles between epistemologies: settle on the strictest of the cycle
                    # (it forgets the most, so it keeps no state another member calls unknowable), and
                    # strip with it so that graph, epistemology and caches agree.
                    cycle = seen[seen.index(derived):]
                    strictest = max(cycle, key=lambda e: (sum(map(len, e[0].values())) + len(e[1]), repr(e)))
                    graph._use_epistemology(*strictest)
                    graph._strip_graph(states)
                break
            seen.append(derived)
            graph._strip_graph(states)
            edges = [(s, graph.guards[m], t) for s, t, m in graph.graph.edges(keys=True)]
        return graph

    def _compile(self, m: Mutation) -> _Guard:
        ix = self.index
        rewind = tuple((ix[var], before) for var, (before, _) in m.mutates.items())
        requires = tuple((ix[var], value) for var, value in m.requires.items() if var in ix)
        forbidden = tuple((ix[var], value) for var, value in m.excludes.items() if var in ix)
        after = tuple((ix[var], after) for var, (_, after) in m.mutates.items())
        return _Guard(m, rewind + requires, forbidden, after, rewind)

    def _expand(self) -> tuple[set[State], list[tuple[State, _Guard, State]]]:
        """Phase 1: the weakly connected component of the root, by out-wise and in-wise expansion."""
        seen = {self.root}
        queue = deque([self.root])
        edges: set[tuple[State, MutationId, State]] = set()
        while queue:
            state = queue.popleft()
            for i, value in enumerate(state):
                for guard in self._out.get((i, value), ()):
                    if guard.applies(state):
                        target = guard.apply(state)
                        edges.add((state, guard.mutation.id, target))
                        if target not in seen:
                            seen.add(target)
                            queue.append(target)
                for guard in self._in.get((i, value), ()):
                    if guard.arrived(state):
                        source = guard.unapply(state)
                        if guard.applies(source):
                            edges.add((source, guard.mutation.id, state))
                            if source not in seen:
                                seen.add(source)
                                queue.append(source)
        return seen, [(s, self.guards[m], t) for s, m, t in edges]

    def _derive_epistemology(self, edges: Iterable[tuple[State, _Guard, State]]) -> None:
        """Phase 2: for each variable, the known values common to the tails of all its discovery edges."""
        common: dict[int, dict[int, str] | None] = {i: None for i in range(len(self.variables))}
        for source, guard, _ in edges:
            moved = {i for i, _ in guard.rewind}
            for i, before in guard.rewind:
                if before != self.zero[i]:
                    continue
                tail = {j: v for j, v in enumerate(source) if j not in moved and v != self.zero[j]}
                known = common[i]
                common[i] = tail if known is None else {j: v for j, v in known.items() if tail.get(j) == v}
        unknowable: set[str] = set()
        epistemology: dict[str, dict[str, str]] = {}
        for i, name in enumerate(self.variables):
            deps = common[i]
            if deps is None:
                unknowable.add(name)  # no discovery edge reachable: this variable is never known
                epistemology[name] = {}
            else:
                epistemology[name] = {self.variables[j]: v for j, v in sorted(deps.items())}
        self._use_epistemology(epistemology, unknowable)

    def _use_epistemology(self, epistemology: dict[str, dict[str, str]], unknowable: set[str]) -> None:
        self.epistemology, self.unknowable = epistemology, unknowable
        self._deps = [tuple((self.index[k], v) for k, v in epistemology[name].items()) for name in self.variables]
        self._never = {self.index[name] for name in unknowable}

    def strip(self, state: State) -> State:
        """Forget every value whose epistemic requirements do not hold, until nothing more changes."""
        cached = self._strip_cache.get(state)
        if cached is not None:
            return cached
        values = list(state)
        changed = True
        while changed:
            changed = False
            for i, deps in enumerate(self._deps):
                if values[i] != self.zero[i] and (i in self._never or any(values[j] != v for j, v in deps)):
                    values[i] = self.zero[i]
                    changed = True
        stripped = tuple(values)
        self._strip_cache[state] = stripped
        return stripped

    def _strip_graph(self, states: Iterable[State]) -> None:
        """Phase 3: strip states, merge equal ones, re-derive edges between them (no loops, no duplicates)."""
        self._strip_cache.clear()
        self._successor_cache.clear()
        nodes = {self.strip(s) for s in states}
        queue = deque(sorted(nodes))
        graph = self.graph = nx.MultiDiGraph()
        graph.add_nodes_from(nodes)
        while queue:
            state = queue.popleft()
            # successors() drops steps whose effect is forgotten at once (self-loops); keys de-duplicate
            for ident, target, cost in self.successors(state):
                if target not in nodes:
                    nodes.add(target)
                    graph.add_node(target)
                    queue.append(target)
                graph.add_edge(state, target, key=ident, cost=cost)

    # -- queries ------------------------------------------------------------------------------------

    def state_of(self, values: Mapping[str, str]) -> State:
        """The state with ``values`` for the mutation variables named there, unknown elsewhere."""
        return tuple(values.get(name, zero) for name, zero in zip(self.variables, self.zero, strict=True))

    def known(self, state: State) -> dict[str, str]:
        """The known values of ``state`` by name (unknown ones left out): how states are shown."""
        return {n: v for n, v, z in zip(self.variables, state, self.zero, strict=True) if v != z}

    def forget_unknowables(self, values: Mapping[str, str]) -> dict[str, str]:
        """``values`` (discovered, by name) with every value that cannot be known set to unknown.

        Mutation variables follow the derived epistemology; other enum variables follow their
        declared ``knowable_when`` (a dead node's ``busy=BUSY`` is forgotten when it leaves SYNC).
        Names that are not enum variables are returned unchanged.
        """
        result = dict(values)
        stripped = self.strip(self.state_of(values))
        for name, value in zip(self.variables, stripped, strict=True):
            if name in result:
                result[name] = value
        for name, var in self.catalog.variables.items():
            if name in self.index or not var.is_enum or name not in result:
                continue
            if any(result.get(other) != value for other, value in var.spec.knowable_when.items()):
                result[name] = var.zero
        return result

    def successors(self, state: State) -> list[tuple[MutationId, State, float]]:
        """Every step out of ``state`` as (mutation, stripped target, cost), sorted by mutation id.

        Works for any stripped state, not only the graph's nodes: a node may be discovered in a
        combination no mutation leads to, and the planner still searches from there.
        """
        cached = self._successor_cache.get(state)
        if cached is None:
            cached = []
            for guard in self._sorted_guards:
                if guard.applies(state):
                    target = self.strip(guard.apply(state))
                    if target != state:
                        cached.append((guard.mutation.id, target, guard.mutation.cost))
            self._successor_cache[state] = cached
        return cached

    def edges(self) -> Iterable[tuple[State, State, MutationId]]:
        """Every edge as (source, target, mutation id), in a stable order."""
        return sorted(self.graph.edges(keys=True))

    def mutation(self, ident: MutationId) -> Mutation:
        return self.catalog.mutations[ident]
