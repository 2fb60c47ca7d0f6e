"""The graph of a site-sized catalog: 10 mutation variables, 200 mutations (``benchmarks/synthetic.py``).

Phase 1's component of the root holds every one of its 7,812,500 raw states, which the first
construction listed one by one (an extrapolated half hour); the graph builds from a decision diagram
of that component instead (:mod:`reconciler.graph.epistemic`). How long it takes is measured by
``benchmarks/graph_build.py``, not asserted here. These tests check what a user of the graph relies
on: that it is an epistemic graph of this catalog at all, and that the planner finds the layered
chains an operator expects on it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.graph.epistemic import EpistemicGraph, State
from reconciler.graph.planner import Plan, Planner, PlanStatus
from reconciler.model.types import MutationId

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))  # the generator lives with the benchmarks

from synthetic import PLATFORMS, synthetic

VARIABLES, MUTATIONS = 10, 200
LAYERS = [f"layer{k}" for k in range(1, VARIABLES)]
ALL_UP = {"power": "POWER_ON", **{layer: "UP" for layer in LAYERS}}


@pytest.fixture(scope="module")
def graph() -> EpistemicGraph:
    return EpistemicGraph.build(synthetic(mutations=MUTATIONS, variables=VARIABLES).catalog())


def _walk(graph: EpistemicGraph, plan: Plan) -> Iterator[tuple[MutationId, State]]:
    """Execute ``plan`` step by step on the graph, as the engine would: each step must be an edge from where it is."""
    state = graph.strip(graph.state_of(dict(plan.start)))
    for step in plan.steps:
        targets = [t for ident, t, _ in graph.successors(state) if ident == step.mutation]
        assert targets, f"{step.mutation} does not apply at {graph.known(state)}"
        state = targets[0]
        yield step.mutation, state


def test_the_component_is_every_raw_state_and_the_graph_is_four_nodes_per_variable(graph: EpistemicGraph) -> None:
    assert graph.variables == ("power", *LAYERS)
    component = graph._expand()  # private: the size of what phase 1 covers without listing it
    assert graph._diagram.count(component) == 4 * 5 ** len(LAYERS)
    # per variable: unknown-below-it, or known at one of DOWN, STARTING, ERROR (UP lets the next one be known)
    assert graph.graph.number_of_nodes() == 4 * VARIABLES
    assert graph.root in graph.graph


def test_every_node_is_stripped_and_every_edge_is_a_step_of_its_mutation(graph: EpistemicGraph) -> None:
    assert all(graph.strip(node) == node for node in graph.graph.nodes)
    for source, target, ident, data in graph.graph.edges(keys=True, data=True):
        guard = graph.guards[ident]
        assert guard.applies(source), f"{ident} does not apply at {graph.known(source)}"
        assert graph.strip(guard.apply(source)) == target != source
        assert data["cost"] == graph.mutation(ident).cost
    for node in graph.graph.nodes:  # closed: every step out of a node is an edge, to a node
        out = {(ident, target) for _, target, ident in graph.graph.out_edges(node, keys=True)}
        assert out == {(ident, target) for ident, target, _ in graph.successors(node)}


def test_each_layer_is_known_only_on_the_layers_below_it(graph: EpistemicGraph) -> None:
    assert graph.unknowable == set()
    assert graph.epistemology["power"] == {}
    for k, layer in enumerate(LAYERS):
        assert graph.epistemology[layer] == {"power": "POWER_ON", **{below: "UP" for below in LAYERS[:k]}}
    powered_off = graph.forget_unknowables({**ALL_UP, "power": "POWER_OFF"})
    assert powered_off == {"power": "POWER_OFF", **{layer: "UNKNOWN" for layer in LAYERS}}
    assert graph.forget_unknowables({**ALL_UP, "layer4": "DOWN"})["layer5"] == "UNKNOWN"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_from_nothing_to_the_top_layer_is_the_layered_chain(graph: EpistemicGraph, platform: str) -> None:
    plan = Planner(graph).plan(desired={LAYERS[-1]: "UP"}, discovered={}, config={"platform": platform})
    assert plan.status is PlanStatus.PLANNED, plan.reason
    walked = list(_walk(graph, plan))
    assert graph.known(walked[-1][1]) == ALL_UP
    # bottom-up: power, then each layer discovered and brought up before the next one is touched
    order = [graph.variables.index(next(iter(graph.mutation(ident).mutates))) for ident, _ in walked]
    assert order == sorted(order)
    assert set(order) == set(range(VARIABLES))
    assert all(graph.mutation(ident).requires.get("platform", platform) == platform for ident, _ in walked)
    if platform == PLATFORMS[0]:  # the first platform's alternatives cost no extra: discover + on, then 1 + 2 a layer
        assert sum(graph.mutation(ident).cost for ident, _ in walked) == 2 + 3 * len(LAYERS)


def test_powering_off_a_full_stack_stops_it_top_down_unless_it_is_busy(graph: EpistemicGraph) -> None:
    planner = Planner(graph)
    plan = planner.plan(desired={"power": "POWER_OFF"}, discovered={**ALL_UP, "busy": "FREE"},
                        config={"platform": "redfish"})
    assert plan.status is PlanStatus.PLANNED, plan.reason
    walked = list(_walk(graph, plan))
    assert [next(iter(graph.mutation(ident).mutates)) for ident, _ in walked] == [*reversed(LAYERS), "power"]
    assert graph.known(walked[-1][1]) == {"power": "POWER_OFF"}
    busy = planner.plan(desired={"power": "POWER_OFF"}, discovered={**ALL_UP, "busy": "BUSY"},
                        config={"platform": "redfish"})
    assert busy.status is PlanStatus.BLOCKED
    assert "busy=BUSY" in busy.reason
