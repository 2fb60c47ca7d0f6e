"""`kraken validate | graph | plan` as an operator runs them: output, --format json, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from farm import kraken_collections_path

from reconciler.cli import main

DEMO = Path("inventories/demo")
OBSERVED = Path("inventories/demo-observed.yml")
COLLECTIONS = ["-c", "collections"]


def kraken(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write_inventory(root: Path, hosts: dict[str, dict[str, object]],
                    group_vars: dict[str, object] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {h: None for h in hosts}}}))
    (root / "host_vars").mkdir(exist_ok=True)
    for host, variables in hosts.items():
        (root / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump(variables))
    if group_vars:
        (root / "group_vars").mkdir(exist_ok=True)
        (root / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars))
    return root


def plan_json(*args: str) -> dict[str, dict]:
    code, out, err = kraken("plan", *COLLECTIONS, "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)["hosts"]


def mutations(host_plan: dict) -> list[str]:
    return [step["mutation"] for step in host_plan["steps"]]


def test_plan_from_all_unknown_to_image_active_is_the_seven_step_chain() -> None:
    hosts = plan_json("-i", str(DEMO), "--limit", "n01")
    assert list(hosts) == ["n01"]
    assert hosts["n01"]["status"] == "planned"
    assert mutations(hosts["n01"]) == [
        "kraken.layercake.power_ipmi:discover",
        "kraken.layercake.power_ipmi:power_on",
        "kraken.layercake.pxe:prepare",
        "kraken.layercake.pxe:boot",
        "kraken.core.runstate:sync",
        "kraken.layercake.image:discover",
        "kraken.layercake.image:activate",
    ]
    assert hosts["n01"]["steps"][3] == {
        "mutation": "kraken.layercake.pxe:boot", "context": "child",
        "mutates": {"pxe": ["WAIT", "INIT"], "runstate": ["UNKNOWN", "INIT"]},
    }


def test_power_off_of_a_synced_node_waits_for_busy_and_then_goes_down_in_order(tmp_path: Path) -> None:
    synced = {"power": "POWER_ON", "pxe": "INIT", "runstate": "SYNC", "image": "ACTIVE"}
    inventory = write_inventory(tmp_path / "inv", {"busy1": {}, "free1": {}},
                                {"kraken_power": "POWER_OFF", "kraken_platform": "ipmi"})
    observed = tmp_path / "observed.yml"
    observed.write_text(yaml.safe_dump({"busy1": {**synced, "busy": "BUSY"}, "free1": {**synced, "busy": "FREE"}}))
    hosts = plan_json("-i", str(inventory), "--observed", str(observed))
    assert hosts["busy1"]["status"] == "blocked"
    assert "busy=BUSY" in hosts["busy1"]["reason"]
    assert hosts["free1"]["status"] == "planned"
    assert [list(step["mutates"].items()) for step in hosts["free1"]["steps"]] == [
        [("image", ["ACTIVE", "IDLE"])], [("runstate", ["SYNC", "INIT"])], [("power", ["POWER_ON", "POWER_OFF"])],
    ]


def test_plan_on_the_demo_inventory_covers_every_status() -> None:
    hosts = plan_json("-i", str(DEMO), "--observed", str(OBSERVED))
    assert hosts["n01"] == {"status": "converged", "steps": [], "reason": ""}
    assert mutations(hosts["n03"])[0] == "kraken.layercake.power_ipmi:recover"  # HANG first goes cold
    assert mutations(hosts["n04"])[0] == "kraken.core.runstate:recover"  # lost heartbeats have a way out
    assert mutations(hosts["n05"]) == ["kraken.layercake.image:update"]
    assert hosts["n06"]["status"] == "blocked" and "busy=BUSY" in hosts["n06"]["reason"]
    assert "kraken_image=ACTIVE is set aside while power=POWER_OFF" in hosts["n06"]["reason"]
    assert mutations(hosts["s02"])[0] == "kraken.layercake.power_redfish:discover"
    assert mutations(hosts["n07"])[-1] == "kraken.layercake.power_ipmi:power_off"


def test_limit_uses_ansible_host_patterns() -> None:
    assert sorted(plan_json("-i", str(DEMO), "--limit", "compute:!n06")) == ["n01", "n02", "n03", "n04", "n05"]
    assert sorted(plan_json("-i", str(DEMO), "--limit", "storage,n07")) == ["n07", "s01", "s02"]


def test_plan_text_table_names_hosts_and_steps() -> None:
    code, out, _ = kraken("plan", *COLLECTIONS, "-i", str(DEMO), "--observed", str(OBSERVED))
    assert code == 0
    assert "n06" in out and "blocked" in out and "kraken.layercake.image:update" in out
    assert "converged" in out


def test_bad_desired_value_exits_2_naming_host_variable_and_file(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path / "inv", {"n1": {"kraken_power": "POWER_MAYBE"}})
    code, _, err = kraken("plan", *COLLECTIONS, "-i", str(inventory))
    assert code == 2
    assert "n1" in err and "kraken_power" in err and "POWER_MAYBE" in err and "n1.yml" in err


def test_observed_file_naming_an_unknown_host_is_an_error(tmp_path: Path) -> None:
    observed = tmp_path / "observed.yml"
    observed.write_text(yaml.safe_dump({"nosuchhost": {"power": "POWER_ON"}}))
    code, _, err = kraken("plan", *COLLECTIONS, "-i", str(DEMO), "--observed", str(observed))
    assert code == 2 and "nosuchhost" in err and "not in the inventory" in err


def test_validate_ok_and_json() -> None:
    code, out, _ = kraken("validate", *COLLECTIONS, "-i", str(DEMO))
    assert code == 0 and out.startswith("ok:") and "inventory: 10 hosts" in out
    code, out, _ = kraken("validate", *COLLECTIONS, "--format", "json")
    report = json.loads(out)
    assert report["ok"] is True and report["mutations"] == 18 and report["problems"] == []


def test_validate_reports_catalog_problems_with_exit_2(tmp_path: Path) -> None:
    shutil.copytree("collections", tmp_path / "collections")
    meta = tmp_path / "collections/kraken/layercake/roles/pxe/meta/kraken.yml"
    meta.write_text(meta.read_text().replace("requires: {power: POWER_ON}", "requires: {power: ON}"))
    (tmp_path / "collections/kraken/layercake/roles/image/tasks/update.yml").unlink()
    code, out, _err = kraken("validate", "-c", str(tmp_path / "collections"), "--format", "json")
    assert code == 2
    problems = json.loads(out)["problems"]
    assert len(problems) == 2, problems  # no cascade from the unreadable pxe metadata
    assert any("YAML boolean" in p["message"] and "pxe/meta/kraken.yml" in p["where"] for p in problems)
    assert any("update.yml does not exist" in p["message"] for p in problems)


def test_graph_dot_and_host_highlight(tmp_path: Path) -> None:
    code, out, _ = kraken("graph", *COLLECTIONS, "--format", "dot")
    assert code == 0 and out.startswith("digraph kraken")
    out_file = tmp_path / "n03.json"
    code, _, err = kraken("graph", *COLLECTIONS, "--format", "json", "-i", str(DEMO), "--host", "n03",
                          "--observed", str(OBSERVED), "-o", str(out_file))
    assert code == 0, err
    document = json.loads(out_file.read_text())
    assert document["host"]["path"][0] == "power=HANG"
    assert document["host"]["mutations"][0] == "kraken.layercake.power_ipmi:recover"


def test_graph_host_must_exist_and_needs_inventory() -> None:
    code, _, err = kraken("graph", *COLLECTIONS, "-i", str(DEMO), "--host", "nope")
    assert code == 2 and "nope" in err
    code, _, _ = kraken("graph", *COLLECTIONS, "--host", "n01")
    assert code == 2


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (CI installs it)")
def test_graph_svg(tmp_path: Path) -> None:
    code, _, _ = kraken("graph", *COLLECTIONS, "--format", "svg", "-o", str(tmp_path / "g.svg"))
    assert code == 0 and "<svg" in (tmp_path / "g.svg").read_text()


def test_console_script_exit_codes(tmp_path: Path) -> None:
    """The installed `kraken` entry point: 0 on success, 2 on a missing collection path."""
    exe = Path(sys.executable).with_name("kraken")
    ok = subprocess.run([exe, "validate", *COLLECTIONS], capture_output=True, text=True, timeout=120, check=False)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([exe, "validate", "-c", str(tmp_path / "missing")], capture_output=True, text=True,
                         timeout=120, check=False)
    assert bad.returncode == 2 and "missing" in bad.stderr and "is not a folder" in bad.stderr


def test_default_collections_are_the_ones_ansible_finds(tmp_path: Path) -> None:
    """Without -c, ANSIBLE_COLLECTIONS_PATH (ansible-core's own configuration) decides."""
    kraken_collections_path(tmp_path)
    exe = Path(sys.executable).with_name("kraken")
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(tmp_path), "ANSIBLE_CONFIG": str(tmp_path / "none.cfg")}
    found = subprocess.run([exe, "validate", "--format", "json"], capture_output=True, text=True, timeout=120,
                           env=env, check=False)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["mutations"] == 18
    env["ANSIBLE_COLLECTIONS_PATH"] = str(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    missing = subprocess.run([exe, "validate"], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert missing.returncode == 2 and "holds no collection" in missing.stderr
