"""The epistemic state graph (paper §3.2): which states a node can be *known* to be in, and how mutations move it.

A graph node is a full assignment of the *mutation variables* (enum variables some mutation moves),
the unknown value standing for "not known". Requirements and excludes on mutation variables are
*structural* (they decide which edges exist); on any other variable they are per-host *filters*
applied by the planner, so one graph serves every platform.

What the graph is — the paper's three phases, with phases 2-3 repeated:

1. **Expansion.** From the all-unknown root, follow every mutation that can leave a state (out-wise)
   and every mutation that can arrive at it (in-wise, by rewinding its ``to`` values to its ``from``
   values) until no new state appears: the weakly connected component ``R`` of the root in the raw
   (unstripped) state graph. In-wise expansion matters because discoveries report what they find: a
   node discovered as ``image=UPDATE`` is in a state no mutation leads to, yet one (``UPDATE→ACTIVE``)
   leads out of it. ``R`` remembers values that stripping hides: that a node whose agent runs was PXE
   booted (runstate known ⇒ pxe=INIT in every state of ``R``) is what makes ``image`` need ``pxe=INIT``.
2. **Epistemology.** For each variable, the values every tail of its discovery edges has in common
   (a discovery edge moves it from unknown), leaving out the variables that discovery itself changes
   and unknown values. That is what must hold for the variable to be known; a variable without any
   discovery edge is unknowable. The first derivation reads the discovery edges of ``R``.
3. **Stripping.** Each state of ``R`` forgets what it cannot know (repeatedly: forgetting one value can
   make another unknowable); equal states merge; the result is closed under stepping forward, and edges
   are re-derived between stripped states, dropping those whose effect is immediately forgotten
   (self-loops) and duplicates.

Phases 2-3 repeat — the epistemology re-derived from the discovery edges of the stripped graph, ``R``
stripped again by it — until the epistemology stops changing. Should it cycle instead, the strictest
epistemology of the cycle (it forgets the most, so it keeps no state another member calls unknowable)
is used, and ``R`` is stripped by it.

How it is computed. ``R`` is exponential in the number of variables (layered catalogs grow it ~5× per
variable: 7.8 million states for 10 variables) while the stripped graph is not (~4 nodes per variable),
so ``R`` is never listed state by state. It is held as a *multi-valued decision diagram* (:class:`_Diagram`):
a DAG with one level per variable, in :attr:`EpistemicGraph.variables` order, in which a state is a path
and equal sub-sets of states are one shared node. Each mutation is compiled into two relabelling maps on
the diagram, its forward image (states it applies to, moved to its ``to`` values) and its backward image
(states it arrives at, rewound to its ``from`` values, kept where it applies); ``R`` is the least set that
holds the root and is closed under all of them, reached by applying them in turn until a whole sweep adds
nothing. Nodes are hash-consed and each image memoizes per node, so a sweep costs what changed since the
last one. From the diagram:

* the first epistemology needs, for each discovery mutation, the values each other variable takes in the
  states of ``R`` it applies to: the diagram restricted by the mutation's guard, read level by level;
* stripping ``R`` enumerates its *stripped* states level by level, merging (by diagram union) the branches
  whose values are already known to be forgotten — a value whose epistemic requirement names an earlier
  level with another value, or an unknown one — so the work follows the number of distinct stripped
  prefixes, not of raw states. Values whose requirements name later levels stay undecided until those
  levels are read, which keeps the result exact for any epistemology, cyclic requirements included.

The result is the same graph and epistemology as listing ``R`` (checked against that, by brute force,
in ``tests/unit/graph/test_epistemic_oracle.py``). The cost follows the diagram, not ``R``: 3,105 diagram
nodes for the 7.8 million states of the 10-variable synthetic catalog, growing polynomially with layers.
A catalog whose component correlates many variables with each other at once could still have a large
diagram; none of the shipped or synthetic ones does.

Why not expand among stripped states instead (the component of the root in the graph of stripped states
and their steps): it is not the same graph. Stripping forgets what ``R`` remembers, so its in-wise steps
reach combinations no history leads to — in Layercake, runstate INIT with pxe unknown, through power-off —
and its discovery tails then lose ``image``'s need for ``pxe=INIT``: 27 nodes instead of 12, another
epistemology, and on small random catalogs a different graph about one time in ten.

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
from collections.abc import Iterable, Iterator, Mapping
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


_EMPTY, _FULL = 0, 1


class _Diagram:
    """Sets of states as one quasi-reduced multi-valued decision diagram (the states of ``R``, mainly).

    A node is an integer: ``0`` the empty set, ``1`` the set holding the empty suffix (below the last
    level), any other a ``(level, children)`` pair with one child per value index of that level's
    variable (``0`` where no state continues with that value). Every level is present on every path
    ("quasi-reduced"), which keeps the images simple, and a node is never empty unless it is ``0``,
    so every non-empty child leads to at least one state. Nodes are hash-consed: equal sets are one
    node, which is what makes unions and images cheap to memoize.
    """

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes
        self.levels = len(sizes)
        self.nodes: list[tuple[int, tuple[int, ...]]] = [(-1, ()), (self.levels, ())]
        self._unique: dict[tuple[int, tuple[int, ...]], int] = {}
        self._unions: dict[tuple[int, int], int] = {}

    def node(self, level: int, children: tuple[int, ...]) -> int:
        if not any(children):
            return _EMPTY
        key = (level, children)
        found = self._unique.get(key)
        if found is None:
            found = len(self.nodes)
            self.nodes.append(key)
            self._unique[key] = found
        return found

    def single(self, indices: tuple[int, ...]) -> int:
        """The set holding one state, given as value indices."""
        node = _FULL
        for level in range(self.levels - 1, -1, -1):
            children = [_EMPTY] * self.sizes[level]
            children[indices[level]] = node
            node = self.node(level, tuple(children))
        return node

    def union(self, a: int, b: int) -> int:
        if a in (_EMPTY, b):
            return b
        if b == _EMPTY:
            return a
        key = (a, b) if a < b else (b, a)
        found = self._unions.get(key)
        if found is None:
            level, left = self.nodes[a]
            right = self.nodes[b][1]
            found = self.node(level, tuple(self.union(x, y) for x, y in zip(left, right, strict=True)))
            self._unions[key] = found
        return found

    def values_per_level(self, node: int) -> list[set[int]]:
        """For each level, the value indices some state of ``node`` has there (its projections)."""
        seen: list[set[int]] = [set() for _ in range(self.levels)]
        visited = {node}
        todo = [node] if node > _FULL else []
        while todo:
            level, children = self.nodes[todo.pop()]
            for value, child in enumerate(children):
                if child:
                    seen[level].add(value)
                    if child > _FULL and child not in visited:
                        visited.add(child)
                        todo.append(child)
        return seen

    def count(self, node: int) -> int:
        """How many states ``node`` holds (for reports: the size of what was never listed)."""
        memo: dict[int, int] = {_EMPTY: 0, _FULL: 1}

        def size(x: int) -> int:
            if x not in memo:
                memo[x] = sum(size(child) for child in self.nodes[x][1])
            return memo[x]

        return size(node)

    def paths(self, node: int) -> Iterator[tuple[int, ...]]:
        """Every state of ``node`` as value indices: exponential, for tests on small catalogs only."""
        if node == _FULL:
            yield ()
            return
        if node == _EMPTY:
            return
        for value, child in enumerate(self.nodes[node][1]):
            for rest in self.paths(child):
                yield (value, *rest)


class _Image:
    """One mutation's forward or backward image on a :class:`_Diagram`: a relabelling of some levels.

    ``moves[level]`` is ``None`` where the level is untouched, else the (source value, target value)
    pairs kept there: a guard level keeps its allowed values unchanged, a mutated level maps ``from`` to
    ``to`` (forward) or ``to`` to ``from`` (backward). Below the last such level a node is its own image.
    """

    def __init__(self, diagram: _Diagram, moves: list[tuple[tuple[int, int], ...] | None]) -> None:
        self.diagram = diagram
        self.moves = tuple(moves)
        touched = [level for level, move in enumerate(moves) if move is not None]
        self.first, self.last = (touched[0], touched[-1]) if touched else (-1, -1)
        self._memo: dict[int, int] = {}

    def __call__(self, node: int) -> int:
        return self._image(node, 0)

    def _image(self, node: int, level: int) -> int:
        if node == _EMPTY or level > self.last:
            return node
        found = self._memo.get(node)
        if found is None:
            children = self.diagram.nodes[node][1]
            move = self.moves[level]
            if move is None:
                image = tuple(self._image(child, level + 1) for child in children)
            else:
                targets = [_EMPTY] * len(children)
                for source, target in move:
                    if children[source]:
                        targets[target] = self._image(children[source], level + 1)
                image = tuple(targets)
            found = self._memo[node] = self.diagram.node(level, image)
        return found


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
        self._values = [tuple(catalog.variables[v].values) for v in self.variables]
        self._value_index = [{value: k for k, value in enumerate(values)} for values in self._values]
        self._diagram = _Diagram([len(values) for values in self._values])

    # -- construction -------------------------------------------------------------------------------

    @classmethod
    def build(cls, catalog: Catalog) -> EpistemicGraph:
        """Run the three phases on ``catalog`` (which must be valid: see :meth:`Catalog.load`)."""
        graph = cls(catalog, catalog.mutation_variables)
        component = graph._expand()
        graph._derive_epistemology_of_component(component)
        seen: list[tuple[dict[str, dict[str, str]], set[str]]] = []
        while True:
            derived = (graph.epistemology, graph.unknowable)  # unknowable vars also have {} as epistemology
            if derived in seen:
                if derived != seen[-1]:
                    # The refinement cycles between epistemologies: settle on the strictest of the cycle
                    # (it forgets the most, so it keeps no state another member calls unknowable), and
                    # strip with it so that graph, epistemology and caches agree.
                    cycle = seen[seen.index(derived):]
                    strictest = max(cycle, key=lambda e: (sum(map(len, e[0].values())) + len(e[1]), repr(e)))
                    graph._use_epistemology(*strictest)
                    graph._strip_graph(graph._stripped_states(component))
                break
            seen.append(derived)
            graph._strip_graph(graph._stripped_states(component))
            if len(seen) == _MAX_REFINEMENTS:
                break
            graph._derive_epistemology((s, graph.guards[m], t) for s, t, m in graph.graph.edges(keys=True))
        graph._diagram = _Diagram(graph._diagram.sizes)  # the memos are only needed while building: free them
        return graph

    def _compile(self, m: Mutation) -> _Guard:
        ix = self.index
        rewind = tuple((ix[var], before) for var, (before, _) in m.mutates.items())
        requires = tuple((ix[var], value) for var, value in m.requires.items() if var in ix)
        forbidden = tuple((ix[var], value) for var, value in m.excludes.items() if var in ix)
        after = tuple((ix[var], after) for var, (_, after) in m.mutates.items())
        return _Guard(m, rewind + requires, forbidden, after, rewind)

    def _expand(self) -> int:
        """Phase 1: the weakly connected component ``R`` of the root, as a node of ``self._diagram``.

        The least set holding the root and closed under every mutation's forward and backward image,
        by sweeps over all images until one adds nothing (each image is memoized per diagram node,
        so a sweep only pays for the sub-sets that changed). :meth:`_Diagram.paths` lists it, for tests.
        """
        diagram = self._diagram
        # Mutations that differ only in filters (one per platform …) have the same image: keep one of each.
        images = list({image.moves: image for guard in self._sorted_guards for image in self._images(guard)}.values())
        # Deepest-reaching images first: what they add below is then in place when the shallower ones, which
        # rebuild the nodes above it, run in the same sweep (about half the time of declaration order).
        images.sort(key=lambda image: (image.last, image.first), reverse=True)
        component = diagram.single(tuple(0 for _ in self.variables))
        while True:
            before = component
            for image in images:
                component = diagram.union(component, image(component))
            if component == before:
                return component

    def _states_of(self, component: int) -> Iterator[State]:
        """Every state of a diagram node, by value: exponential, for tests on small catalogs only."""
        for path in self._diagram.paths(component):
            yield tuple(values[k] for values, k in zip(self._values, path, strict=True))

    def _allowed(self, guard: _Guard) -> list[set[int] | None]:
        """Per level, the value indices ``guard`` lets a source state have there (``None``: any)."""
        allowed: list[set[int] | None] = [None] * len(self.variables)
        for i, value in guard.before:
            index = {self._value_index[i][value]}
            current = allowed[i]
            allowed[i] = index if current is None else current & index
        for i, value in guard.forbidden:
            current = allowed[i]
            allowed[i] = (set(range(len(self._values[i]))) if current is None else current) - {
                self._value_index[i][value]}
        return allowed

    def _images(self, guard: _Guard) -> tuple[_Image, _Image]:
        """The forward image (apply where it applies) and backward image (rewind where it arrived) of ``guard``."""
        allowed = self._allowed(guard)
        forward: list[tuple[tuple[int, int], ...] | None] = [
            None if values is None else tuple((v, v) for v in sorted(values)) for values in allowed]
        backward = list(forward)
        for (i, before), (_, after) in zip(guard.rewind, guard.after, strict=True):
            source, target = self._value_index[i][before], self._value_index[i][after]
            values = allowed[i]
            ok = values is None or source in values
            forward[i] = ((source, target),) if ok else ()
            backward[i] = ((target, source),) if ok else ()
        return _Image(self._diagram, forward), _Image(self._diagram, backward)

    def _derive_epistemology_of_component(self, component: int) -> None:
        """Phase 2 on ``R`` itself: the tails of its discovery edges are the states of ``R`` a discovery applies to.

        Those are ``R`` restricted by the mutation's guard; a variable's values there are one
        projection of the diagram, so the common known values are read without listing any state.
        """
        common: dict[int, dict[int, str] | None] = {i: None for i in range(len(self.variables))}
        for guard in self._sorted_guards:
            discovers = [i for i, before in guard.rewind if before == self.zero[i]]
            if not discovers:
                continue
            allowed = self._allowed(guard)
            restrict = _Image(self._diagram, [None if values is None else tuple((v, v) for v in sorted(values))
                                              for values in allowed])
            tails = restrict(component)
            if tails == _EMPTY:
                continue  # the mutation applies nowhere in R: no edge
            moved = {i for i, _ in guard.rewind}
            projections = self._diagram.values_per_level(tails)
            tail = {j: self._values[j][next(iter(values))] for j, values in enumerate(projections)
                    if j not in moved and len(values) == 1 and next(iter(values)) != 0}
            for i in discovers:
                known = common[i]
                common[i] = tail if known is None else {j: v for j, v in known.items() if tail.get(j) == v}
        self._settle_epistemology(common)

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
        self._settle_epistemology(common)

    def _settle_epistemology(self, common: Mapping[int, Mapping[int, str] | None]) -> None:
        """Name the common tails: ``None`` (no discovery edge at all) means the variable is never known."""
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
        self._strip_cache.clear()
        self._successor_cache.clear()

    def _stripped_states(self, component: int) -> set[State]:
        """``{strip(s) for s in component}`` under the current epistemology, without listing ``component``.

        Reads the diagram level by level. A prefix is kept as one entry per level read so far: the value
        if it is known to survive stripping (``> 0``), ``0`` if it is known to be forgotten (unknown, a
        variable never known, or a requirement on an earlier level that fails), or ``-value`` while a
        requirement names a level not read yet. Branches that give the same entries merge, their
        sub-diagrams united, so forgotten values cost nothing; at the end the undecided entries are
        settled by :meth:`strip` itself.
        """
        diagram = self._diagram
        deps = [tuple((k, self._value_index[k][v]) for k, v in d) for d in self._deps]
        frontier: dict[tuple[int, ...], int] = {(): component} if component != _EMPTY else {}
        for level in range(len(self.variables)):
            following: dict[tuple[int, ...], int] = {}
            for prefix, node in frontier.items():
                for value, child in enumerate(diagram.nodes[node][1]):
                    if child:
                        entries = self._settle([*prefix, value], level, deps)
                        following[entries] = diagram.union(following.get(entries, _EMPTY), child)
            frontier = following
        return {self.strip(tuple(self._values[j][abs(e)] for j, e in enumerate(entries))) for entries in frontier}

    def _settle(self, entries: list[int], level: int, deps: list[tuple[tuple[int, int], ...]]) -> tuple[int, ...]:
        """Decide what can be decided of ``entries`` (levels ``0..level``; the last one just read, as a raw value).

        An entry is forgotten if its value is unknown, its variable is never known, or one of its
        requirements names a level already read with another value or a forgotten one; it survives
        if every requirement names a surviving entry with the required value (greatest fixed point,
        like :meth:`strip`); else it stays undecided. Deciding one entry can decide others: repeat.
        """
        if entries[level] != 0:
            entries[level] = -entries[level]
        changed = True
        while changed:
            changed = False
            for j in range(level + 1):
                if entries[j] >= 0:
                    continue
                if j in self._never:
                    entries[j], changed = 0, True
                    continue
                decided = True
                for k, needed in deps[j]:
                    if k > level:
                        decided = False
                        continue
                    have = entries[k]
                    if have == 0 or abs(have) != needed:
                        entries[j], changed, decided = 0, True, False
                        break
                    if have < 0:
                        decided = False
                if decided:
                    entries[j], changed = -entries[j], True
        return tuple(entries)

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
