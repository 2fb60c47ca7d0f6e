"""Worked examples an operator can check by hand: the paper's Listing 2 and the Layercake lifecycle.

Each test is a situation a node can be in and what the planner must answer for it — the chain, or a
reason that names what blocks it. They pin the behaviour DESIGN §3–§4 and the paper describe, on the
real ``collections/`` catalog where possible.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from catalogs import catalog_from

from reconciler.graph.epistemic import EpistemicGraph
from reconciler.graph.planner import Plan, Planner, PlanStatus

# -- the paper's Listing 2: power control on two platforms -----------------------------------------

POWER = {"values": ["UNKNOWN", "POWER_OFF", "POWER_ON"]}


def _power_role(platform: str) -> list[dict[str, object]]:
    """Rules 1-4 of Listing 2 for one platform, plus the discovery mutation (A2) they need."""
    needs = {"platform": platform}
    return [
        {"name": "discover", "mutates": {"power": {"from": "UNKNOWN", "to": "POWER_OFF"}}, "requires": needs},
        {"name": f"{platform}_on", "mutates": {"power": {"from": "POWER_OFF", "to": "POWER_ON"}}, "requires": needs},
        {"name": f"{platform}_off", "mutates": {"power": {"from": "POWER_ON", "to": "POWER_OFF"}}, "requires": needs},
    ]


@pytest.fixture(scope="module")
def listing2() -> Planner:
    catalog = catalog_from({"power": POWER, "platform": {"config": True}},
                           {"redfish": _power_role("redfish"), "ipmi": _power_role("ipmi")},
                           collection="paper.listing2")
    return Planner(EpistemicGraph.build(catalog))


def _chain(plan: Plan) -> list[str]:
    return [step.mutation for step in plan.steps]


def test_listing2_platform_is_a_filter_not_a_dimension(listing2: Planner) -> None:
    """One graph serves both platforms: its states are power values only, with both platforms' edges."""
    graph = listing2.graph
    assert graph.variables == ("power",)
    assert set(graph.graph.nodes) == {("UNKNOWN",), ("POWER_OFF",), ("POWER_ON",)}
    assert {k for _, _, k in graph.graph.edges(keys=True) if k.endswith("_on")} == {
        "paper.listing2.redfish:redfish_on", "paper.listing2.ipmi:ipmi_on"}


def test_listing2_system1_powers_on_through_redfish(listing2: Planner) -> None:
    plan = listing2.plan(desired={"power": "POWER_ON"}, discovered={"power": "POWER_OFF"},
                         config={"platform": "redfish"})
    assert plan.status is PlanStatus.PLANNED
    assert _chain(plan) == ["paper.listing2.redfish:redfish_on"]


def test_listing2_system2_powers_off_through_ipmi(listing2: Planner) -> None:
    plan = listing2.plan(desired={"power": "POWER_OFF"}, discovered={"power": "POWER_ON"},
                         config={"platform": "ipmi"})
    assert plan.status is PlanStatus.PLANNED
    assert _chain(plan) == ["paper.listing2.ipmi:ipmi_off"]


@pytest.mark.parametrize(("config", "says"), [({}, "platform is not set"), ({"platform": "ilo"}, "platform=ilo")])
def test_listing2_host_without_a_known_platform_is_blocked_naming_the_requirement(
        listing2: Planner, config: Mapping[str, str], says: str) -> None:
    plan = listing2.plan(desired={"power": "POWER_ON"}, discovered={"power": "POWER_OFF"}, config=config)
    assert plan.status is PlanStatus.BLOCKED
    assert "requires platform=" in plan.reason
    assert says in plan.reason


# -- Layercake on the real catalog ----------------------------------------------------------------

IPMI = {"platform": "ipmi"}
SYNCED = {"power": "POWER_ON", "pxe": "INIT", "runstate": "SYNC", "image": "ACTIVE"}
LIFECYCLE = [
    "kraken.layercake.power_ipmi:discover",
    "kraken.layercake.power_ipmi:power_on",
    "kraken.layercake.pxe:prepare",
    "kraken.layercake.pxe:boot",
    "kraken.core.runstate:sync",
    "kraken.layercake.image:discover",
    "kraken.layercake.image:activate",
]


@pytest.fixture
def planner(layercake_graph: EpistemicGraph) -> Planner:
    return Planner(layercake_graph)


def test_from_nothing_to_a_running_image_is_the_seven_step_lifecycle(planner: Planner) -> None:
    plan = planner.plan(desired={"image": "ACTIVE"}, discovered={}, config=IPMI)
    assert plan.status is PlanStatus.PLANNED
    assert _chain(plan) == LIFECYCLE


def test_redfish_host_uses_the_redfish_power_role(planner: Planner) -> None:
    plan = planner.plan(desired={"image": "ACTIVE"}, discovered={}, config={"platform": "redfish"})
    assert _chain(plan) == [m.replace("power_ipmi", "power_redfish") for m in LIFECYCLE]


def test_busy_synced_node_is_not_powered_off_and_the_reason_names_busy(planner: Planner) -> None:
    plan = planner.plan(desired={"power": "POWER_OFF"}, discovered={**SYNCED, "busy": "BUSY"}, config=IPMI)
    assert plan.status is PlanStatus.BLOCKED
    assert plan.steps == ()
    assert "busy=BUSY" in plan.reason


def test_free_synced_node_puts_the_image_down_before_powering_off(planner: Planner) -> None:
    plan = planner.plan(desired={"power": "POWER_OFF"}, discovered={**SYNCED, "busy": "FREE"}, config=IPMI)
    assert plan.status is PlanStatus.PLANNED
    assert _chain(plan) == ["kraken.layercake.image:deactivate", "kraken.layercake.image:release",
                            "kraken.layercake.power_ipmi:power_off"]
    assert dict(plan.steps[1].mutates) == {"runstate": ("SYNC", "INIT")}


def test_node_whose_heartbeats_were_lost_has_a_way_out(planner: Planner) -> None:
    lost = {"power": "POWER_ON", "pxe": "INIT", "runstate": "ERROR"}
    plan = planner.plan(desired={"image": "ACTIVE"}, discovered=lost, config=IPMI)
    assert plan.status is PlanStatus.PLANNED
    assert _chain(plan)[0] == "kraken.core.runstate:recover"
    assert _chain(plan)[-1] == "kraken.layercake.image:activate"


def test_dead_node_forgets_busy_so_it_does_not_block_recovery(planner: Planner) -> None:
    """Its last report said BUSY, but nobody can know that once heartbeats stopped (DESIGN §4)."""
    dead = {"power": "POWER_ON", "pxe": "INIT", "runstate": "ERROR", "image": "ACTIVE", "busy": "BUSY"}
    assert planner.graph.forget_unknowables(dead)["busy"] == "UNKNOWN"
    plan = planner.plan(desired={"image": "ACTIVE"}, discovered=dead, config=IPMI)
    assert plan.status is PlanStatus.PLANNED
    assert _chain(plan)[0] == "kraken.core.runstate:recover"
    # the same BUSY on a synced node is known, and does block
    synced = planner.plan(desired={"power": "POWER_OFF"}, discovered={**SYNCED, "busy": "BUSY"}, config=IPMI)
    assert synced.status is PlanStatus.BLOCKED


def test_image_is_forgotten_when_power_is_off(layercake_graph: EpistemicGraph) -> None:
    forgotten = layercake_graph.forget_unknowables({**SYNCED, "power": "POWER_OFF"})
    assert forgotten == {"power": "POWER_OFF", "pxe": "NONE", "runstate": "UNKNOWN", "image": "UNKNOWN"}


def test_epistemology_of_image_needs_power_on_and_a_synced_agent(layercake_graph: EpistemicGraph) -> None:
    needs = layercake_graph.epistemology["image"]
    assert needs["power"] == "POWER_ON"
    assert needs["runstate"] == "SYNC"
    assert layercake_graph.unknowable == set()


def test_power_off_with_image_active_sets_the_image_aside_and_says_why(planner: Planner) -> None:
    """The two cannot hold together: an image is only known on a powered node.

    The issue asked for BLOCKED here; commit 371d3ec made the planner lenient on purpose — a host in a
    group with ``kraken_image: ACTIVE`` that is told ``kraken_power: POWER_OFF`` is powered off, and
    the reason says the image value was set aside and why.
    """
    plan = planner.plan(desired={"power": "POWER_OFF", "image": "ACTIVE"}, discovered={**SYNCED, "busy": "FREE"},
                        config=IPMI)
    assert plan.status is PlanStatus.PLANNED
    assert _chain(plan)[-1] == "kraken.layercake.power_ipmi:power_off"
    assert "kraken_image=ACTIVE is set aside" in plan.reason
    assert "image can only be known while power=POWER_ON" in plan.reason


def test_set_aside_note_survives_a_blocked_plan(planner: Planner) -> None:
    plan = planner.plan(desired={"power": "POWER_OFF", "image": "ACTIVE"}, discovered={**SYNCED, "busy": "BUSY"},
                        config=IPMI)
    assert plan.status is PlanStatus.BLOCKED
    assert "busy=BUSY" in plan.reason
    assert "kraken_image=ACTIVE is set aside" in plan.reason


def test_a_fleet_in_three_situations_costs_three_searches(layercake_graph: EpistemicGraph,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    planner = Planner(layercake_graph)
    searches = 0
    search = planner._search  # private: counting its calls is the point of this test

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal searches
        searches += 1
        return search(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(planner, "_search", counting)
    situations = [
        ({"image": "ACTIVE"}, {}, IPMI),
        ({"power": "POWER_OFF"}, {**SYNCED, "busy": "FREE"}, IPMI),
        ({"power": "POWER_ON"}, {"power": "POWER_OFF"}, {"platform": "redfish"}),
    ]
    plans = [planner.plan(desired=d, discovered=dict(o), config=c) for i in range(1000)
             for d, o, c in [situations[i % 3]]]
    assert searches == 3
    assert len(planner._memo) == 3
    assert {tuple(_chain(p)) for p in plans} == {
        tuple(LIFECYCLE),
        ("kraken.layercake.image:deactivate", "kraken.layercake.image:release",
         "kraken.layercake.power_ipmi:power_off"),
        ("kraken.layercake.power_redfish:power_on",),
    }
