"""Agentless nodes are probed: drift is noticed, config changes and new conditions are looked at at once.

The acme.lab lamp role has two probes: ``check`` (no conditions; counts its runs and the lamp model it saw in
``<host>.checks``) and ``glow`` (only while the lamp is LIT; counts its runs in ``<host>.glows``).
"""

from __future__ import annotations

import asyncio

import pytest
from enginelab import Lab, events, fast_settings, running, statuses, wait_for

pytestmark = pytest.mark.integration


def test_drift_is_noticed_by_a_probe_round_and_repaired(lab: Lab, catalog_graph) -> None:
    lab.write({"a": None, "b": {"kraken_agent": True}}, {"kraken_lamp": "LIT"})

    async def scenario() -> None:
        async with running(lab, catalog_graph, fast_settings(probe_interval=1.0)) as engine:
            await wait_for(lambda: set(statuses(engine).values()) == {"converged"}, what="lit")
            (lab.devices / "a.lamp").write_text("DARK")  # someone switched it off behind our back
            (lab.devices / "b.lamp").write_text("DARK")
            await wait_for(lambda: len(events(engine, "step_succeeded", "a")) == 3, what="a relit")
            assert lab.device("a") == "LIT"
            noticed = [e for e in events(engine, "discovered", "a") if "-probe-" in e.data["source"]]
            assert noticed and noticed[0].message == "lamp=DARK"  # a probe run saw it (check or glow)
            # b has an agent: the reconciler leaves its reporting to it (and so does not see this drift)
            assert lab.count("b", "checks") == 0 and lab.device("b") == "DARK"
            assert engine.node("b").discovered == {"lamp": "LIT"}  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_a_config_change_is_probed_at_once_and_a_new_condition_too(lab: Lab, catalog_graph) -> None:
    lab.write({"a": None}, {"kraken_lamp": "LIT", "kraken_lamp_model": "m1"})

    async def scenario() -> None:
        async with running(lab, catalog_graph) as engine:  # no probe rounds (probe_interval stays 300 s)
            await wait_for(lambda: set(statuses(engine).values()) == {"converged"}, what="lit")
            # glow applies once the lamp is LIT: it ran once, after the step that lit it
            await wait_for(lambda: lab.count("a", "glows") == 1, what="glow probed")
            assert lab.count("a", "checks") == 0  # nothing changed that check depends on
            lab.write({"a": None}, {"kraken_lamp": "LIT", "kraken_lamp_model": "m2"}, commit="new lamp model")
            # every probe that applies looks again after a config change, with the new config
            await wait_for(lambda: lab.count("a", "checks") == 1 and lab.count("a", "glows") == 2,
                           what="probes after the config change")
            assert (lab.devices / "a.checks").read_text().split() == ["m2"]
            await asyncio.sleep(1.0)
            assert lab.count("a", "glows") == 2 and lab.count("a", "checks") == 1  # once per cause, not a loop
            assert [e.mutation for e in events(engine, "step_succeeded", "a")] == ["acme.lab.lamp:look",
                                                                                  "acme.lab.lamp:light"]

    asyncio.run(scenario())


def test_a_failing_probe_keeps_what_is_known_and_says_why(lab: Lab, catalog_graph) -> None:
    lab.write({"a": None}, {"kraken_lamp": "LIT", "lab_probe_broken": True})

    async def scenario() -> None:
        async with running(lab, catalog_graph, fast_settings(probe_interval=0.5)) as engine:
            await wait_for(lambda: set(statuses(engine).values()) == {"converged"}, what="lit")
            failed = await wait_for(lambda: events(engine, "probe_failed", "a"), what="a failed probe")
            assert failed[0].mutation == "acme.lab.lamp:check"
            assert "the lamp cannot be read" in failed[0].message and "known values kept" in failed[0].message
            assert engine.node("a").discovered == {"lamp": "LIT"}  # type: ignore[union-attr]
            assert statuses(engine) == {"a": "converged"}
            assert len(events(engine, "step_started", "a")) == 2  # no step because of it

    asyncio.run(scenario())
