"""The reconciler's promises, each as a scenario with real ansible-runner runs on the acme.lab collection."""

from __future__ import annotations

import asyncio

import pytest
from enginelab import Lab, events, fast_settings, running, statuses, wait_for

pytestmark = pytest.mark.integration


def test_converges_hosts_and_reports_each_step(lab: Lab, catalog_graph) -> None:
    lab.write({"a": None, "b": None, "c": None}, {"kraken_lamp": "LIT"})

    async def scenario() -> None:
        async with running(lab, catalog_graph) as engine:
            await wait_for(lambda: set(statuses(engine).values()) == {"converged"}, what="3 hosts converged")
            assert {lab.device(h) for h in "abc"} == {"LIT"}
            for host in "abc":
                succeeded = [e.mutation for e in events(engine, "step_succeeded", host)]
                assert succeeded == ["acme.lab.lamp:look", "acme.lab.lamp:light"]
            node = engine.node("a")
            assert node is not None and node.discovered == {"lamp": "LIT"} and node.chain == []
            looks = [e for e in events(engine, "step_started") if e.mutation == "acme.lab.lamp:look"]
            assert len(looks) == 3 and len({e.run_id for e in looks}) == 1, "hosts ready together share one run"

    asyncio.run(scenario())


def test_replans_on_an_inventory_commit(lab: Lab, catalog_graph) -> None:
    lab.write({"a": None, "b": None}, {"kraken_lamp": "LIT"})

    async def scenario() -> None:
        async with running(lab, catalog_graph) as engine:
            await wait_for(lambda: set(statuses(engine).values()) == {"converged"}, what="lit")
            lab.write({"a": None, "b": None}, {"kraken_lamp": "DARK"}, commit="lights out")
            head = lab.git("rev-parse", "HEAD").strip()
            await wait_for(lambda: engine.generation and engine.generation.commit == head, what="new generation")
            await wait_for(lambda: set(statuses(engine).values()) == {"converged"} and lab.device("a") == "DARK",
                           what="dark")
            assert lab.device("b") == "DARK"
            assert [e.mutation for e in events(engine, "step_succeeded", "a")][-1] == "acme.lab.lamp:douse"
            loaded = events(engine, "desired_loaded")
            assert loaded[-1].data["commit"] == head and loaded[-1].data["dirty"] is False

    asyncio.run(scenario())


def test_timeout_records_failto_interrupts_the_role_and_recovers(lab: Lab, catalog_graph) -> None:
    lab.write({"h": {"lab_hang_times": 1}}, {"kraken_lamp": "LIT"})

    async def scenario() -> None:
        async with running(lab, catalog_graph) as engine:
            await wait_for(lambda: statuses(engine).get("h") == "converged", timeout=240, what="recovered")
            timeouts = events(engine, "step_timeout", "h")
            assert [e.mutation for e in timeouts] == ["acme.lab.lamp:light"]
            assert timeouts[0].data["failto"] == {"lamp": "STUCK"}
            succeeded = [e.mutation for e in events(engine, "step_succeeded", "h")]
            assert succeeded == ["acme.lab.lamp:look", "acme.lab.lamp:unstick", "acme.lab.lamp:light"]
            await wait_for(lambda: lab.count("h", "interrupts") == 1, what="the role's interrupt entry point ran")
            assert lab.device("h") == "LIT" and lab.count("h", "light.attempts") == 2

    asyncio.run(scenario())


def test_failures_back_off_exponentially_then_succeed(lab: Lab, catalog_graph) -> None:
    lab.write({"h": {"lab_fail_times": 2}, "ok": None}, {"kraken_lamp": "LIT"})

    async def scenario() -> None:
        async with running(lab, catalog_graph) as engine:
            await wait_for(lambda: set(statuses(engine).values()) == {"converged"}, what="both lit")
            failed = events(engine, "step_failed", "h")
            assert [e.data["attempts"] for e in failed] == [1, 2]
            assert [e.data["retry_in"] for e in failed] == [0.5, 1.0]  # base 0.5 s doubling, no jitter here
            assert "bulb broken (attempt 1)" in failed[0].message
            assert engine.db.load_backoff() == {}, "success resets the backoff"
            assert lab.count("ok", "light.attempts") == 1, "a batch-mate's failure does not fail the others"

    asyncio.run(scenario())


def test_a_host_failing_too_often_is_marked_failed_with_the_reason(lab: Lab, catalog_graph) -> None:
    lab.write({"h": {"lab_fail_times": 99}}, {"kraken_lamp": "LIT"})
    settings = fast_settings(backoff={"base": 0.2, "factor": 1.0, "cap": 30.0, "jitter": 0.0, "max_attempts": 2})

    async def scenario() -> None:
        async with running(lab, catalog_graph, settings) as engine:
            await wait_for(lambda: statuses(engine).get("h") == "failed", what="failed")
            node = engine.node("h")
            assert node is not None
            assert "acme.lab.lamp:light failed 2 time(s), retry in 30s" in node.reason and "bulb broken" in node.reason
            failed = events(engine, "step_failed", "h")
            assert failed[-1].data["retry_in"] == 30.0, "a failed host is retried at the cap"

    asyncio.run(scenario())


def test_a_bad_inventory_edit_is_rejected_and_the_fleet_is_untouched(lab: Lab, catalog_graph) -> None:
    lab.write({"a": None}, {"kraken_lamp": "LIT"})

    async def scenario() -> None:
        async with running(lab, catalog_graph) as engine:
            await wait_for(lambda: statuses(engine) == {"a": "converged"}, what="lit")
            in_force = engine.generation
            runs_before = len(events(engine, "step_started"))
            lab.write({"a": None}, {}, raw_group_vars=f"lab_dir: {lab.devices}\nkraken_lamp: ON\n", commit="typo")
            rejected = await wait_for(lambda: events(engine, "desired_rejected"), what="rejection")
            problems = " ".join(rejected[0].data["problems"])
            assert "boolean" in problems and "kraken_lamp" in problems and "group_vars/all.yml" in problems
            assert engine.generation == in_force
            assert statuses(engine) == {"a": "converged"} and lab.device("a") == "LIT"
            assert len(events(engine, "step_started")) == runs_before
            assert engine.metrics.desired_rejected._value.get() == 1

    asyncio.run(scenario())


def test_freeze_and_thaw(lab: Lab, catalog_graph) -> None:
    lab.write({"a": None, "b": None}, {"kraken_lamp": "LIT"})

    async def scenario() -> None:
        async with running(lab, catalog_graph) as engine:
            engine.freeze("a")
            await wait_for(lambda: statuses(engine).get("b") == "converged", what="b converged")
            assert statuses(engine)["a"] == "frozen"
            assert not events(engine, "step_started", "a")
            engine.observe("a", {"lamp": "DARK"}, source="test")  # discoveries are still recorded
            assert engine.node("a").discovered == {"lamp": "DARK"}
            engine.thaw("a")
            await wait_for(lambda: statuses(engine).get("a") == "converged", what="a converged after thaw")
            assert lab.device("a") == "LIT"
            assert engine.db.load_freezes() == (False, ["+a", "-a"])

    asyncio.run(scenario())


def test_disruption_budget_is_never_exceeded(lab: Lab, catalog_graph) -> None:
    hosts = {f"h{i}": None for i in range(4)}
    lab.write(hosts, {"kraken_lamp": "LIT"})

    async def scenario() -> None:
        async with running(lab, catalog_graph, fast_settings(disruption_budget={"all": 1})) as engine:
            await wait_for(lambda: set(statuses(engine).values()) == {"converged"}, what="lit")
            lab.write(hosts, {"kraken_lamp": "DARK"}, commit="dark")  # douse is disruptive
            await wait_for(lambda: set(statuses(engine).values()) == {"converged"}
                           and all(lab.device(h) == "DARK" for h in hosts), timeout=240, what="dark")
            in_flight, most = set(), 0
            for event in events(engine):
                if event.mutation != "acme.lab.lamp:douse":
                    continue
                if event.kind.value == "step_started":
                    in_flight.add(event.host)
                elif event.kind.value in ("step_succeeded", "step_failed", "step_timeout"):
                    in_flight.discard(event.host)
                most = max(most, len(in_flight))
            assert most == 1
            assert engine.metrics.disruption_waits._value.get() > 0

    asyncio.run(scenario())
