"""One simulated node driven through the whole Layercake chain by the real roles, in the order the planner gives.

Each step runs through ansible-runner exactly as the reconciler runs it; after each, the test checks what the
step reported (``kraken.core.discover``) and what really happened to the simulated machine. Then the node is
brought down again (image IDLE -> runstate INIT -> POWER_OFF), again in the planner's order.
"""

from __future__ import annotations

import time

import pytest

from reconciler.graph.planner import Planner
from reconciler.sim import load_bootfile

pytestmark = pytest.mark.integration

UP = {"power": "POWER_ON", "pxe": "INIT", "runstate": "SYNC", "image": "ACTIVE"}


def planned(planner: Planner, *, desired: dict[str, str], discovered: dict[str, str], platform: str) -> list[str]:
    plan = planner.plan(desired=desired, discovered=discovered, config={"platform": platform})
    return [str(step.mutation) for step in plan.steps]


def run_plan(lab, planner: Planner, host: str, *, desired: dict[str, str], known: dict[str, str], platform: str,
             expect: list[str]) -> dict[str, float]:
    """Run the planned chain step by step (replanning after each), checking each step reached its ``to``."""
    steps = planned(planner, desired=desired, discovered=known, platform=platform)
    assert steps == expect
    seconds: dict[str, float] = {}
    while steps:
        mutation = lab.mutation(steps[0])
        began = time.monotonic()
        result = lab.run(steps[0], [host])
        seconds[steps[0]] = round(time.monotonic() - began, 2)
        status, found, message = lab.report(result, host)
        assert status == "ok", f"{steps[0]}: {message}\n{lab.stdout(result)}"
        for var, (_, to) in mutation.mutates.items():
            assert found.get(var) == to, f"{steps[0]} reported {found}, expected {var}={to}"
        known.update(found)
        steps = planned(planner, desired=desired, discovered=known, platform=platform)
    return seconds


@pytest.mark.parametrize("platform", ["ipmi", "redfish"])
def test_one_node_up_the_whole_chain_and_down_again(make_lab, planner: Planner, platform: str) -> None:
    lab = make_lab(1, platform)
    host = "n01"
    power = f"kraken.layercake.power_{platform}"
    up = [f"{power}:discover", f"{power}:power_on", "kraken.layercake.pxe:prepare", "kraken.layercake.pxe:boot",
          "kraken.core.runstate:sync", "kraken.layercake.image:discover", "kraken.layercake.image:activate"]
    known: dict[str, str] = {}
    seconds = run_plan(lab, planner, host, desired=UP, known=known, platform=platform, expect=up)
    assert {k: known[k] for k in UP} == UP

    state = lab.sim.state(host)
    assert (state.power.value, state.boot_outcome.value, state.os_state.value) == ("on", "booted", "running")
    assert state.boot_count == 2, "powered on without a boot file, then rebooted by pxe:boot"
    boot = load_bootfile(lab.sim.tftp_root, state.mac)
    assert boot.name == host and boot.exec_argv == ("sh", "-c", "touch phoned-home; exec sleep 600")
    assert boot.parent == "127.0.0.1:31415" and boot.key_file == "/etc/kraken/node.key"
    entry = (lab.root / "dnsmasq" / "hosts" / f"{host}.conf").read_text().splitlines()[-1]
    assert entry == f"{state.mac},{host}"
    node_dir = lab.node_dir(host)
    assert (node_dir / "phoned-home").exists()
    assert (node_dir / "fs" / "image" / "running").read_text() == "hello-1\n"
    assert (node_dir / "fs" / "image" / "store" / "hello-1").read_text() == "image hello, version 1\n"

    # every step again: nothing changes, every report is the same (idempotent, observed)
    again = lab.run("kraken.layercake.image:activate", [host])
    assert lab.report(again, host)[:2] == ("ok", {"image": "ACTIVE"})
    assert "changed=0" in lab.stdout(again)

    # down: image ACTIVE -> IDLE, runstate SYNC -> INIT, power POWER_ON -> POWER_OFF
    known["busy"] = "FREE"
    down = ["kraken.layercake.image:deactivate", "kraken.layercake.image:release", f"{power}:power_off"]
    seconds.update(run_plan(lab, planner, host, desired={"power": "POWER_OFF"}, known=known, platform=platform,
                            expect=down))
    assert known["power"] == "POWER_OFF" and known["runstate"] == "INIT" and known["image"] == "IDLE"
    state = lab.sim.state(host)
    assert (state.power.value, state.os_state.value) == ("off", "stopped")
    assert not (node_dir / "phoned-home").exists()
    assert not (node_dir / "fs" / "image" / "running").exists()
    print(f"chain seconds ({platform}): {seconds} total={sum(seconds.values()):.1f}")


def test_rolling_update_discovers_update_and_replaces_the_image(make_lab) -> None:
    lab = make_lab(1, "ipmi")
    host = "n01"
    for step in ("kraken.layercake.image:activate",):
        assert lab.report(lab.run(step, [host]), host)[:2] == ("ok", {"image": "ACTIVE"})
    lab.overrides[host]["kraken_image_name"] = "hello-2"
    assert lab.report(lab.run("kraken.layercake.image:discover", [host]), host)[:2] == ("ok", {"image": "UPDATE"})
    assert lab.report(lab.run("kraken.layercake.image:update", [host]), host)[:2] == ("ok", {"image": "ACTIVE"})
    assert (lab.node_dir(host) / "fs" / "image" / "running").read_text() == "hello-2\n"
