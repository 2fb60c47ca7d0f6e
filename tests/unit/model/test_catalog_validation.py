"""Each way an automation author can get the metadata wrong is reported with file, key path and fix.

Every test writes a small collection to a temp folder, breaks one thing, and checks the message an
author would read. The graph-level checks (failto, discoverable dead ends) go through ``load_graph``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import CatalogError
from reconciler.graph.checks import load_graph
from reconciler.model.catalog import Catalog

POWER = {"values": ["UNKNOWN", "POWER_OFF", "POWER_ON"], "description": "power"}


def power_role(**overrides: Any) -> dict[str, Any]:
    """A valid power role: discover (UNKNOWN→POWER_OFF), on, off."""
    mutations = [
        {"name": "discover", "mutates": {"power": {"from": "UNKNOWN", "to": "POWER_OFF"}}},
        {"name": "power_on", "mutates": {"power": {"from": "POWER_OFF", "to": "POWER_ON"}}},
        {"name": "power_off", "mutates": {"power": {"from": "POWER_ON", "to": "POWER_OFF"}}},
    ]
    return {"mutations": mutations, **overrides}


def write_collection(root: Path, state: dict[str, Any], roles: dict[str, Any], *, raw: dict[str, str] | None = None,
                     name: str = "test", skip_tasks: tuple[str, ...] = ()) -> Path:
    """Write collection ``acme.<name>`` under ``root``; ``raw`` gives literal YAML text for some role metas."""
    coll = root / "acme" / name
    (coll / "meta").mkdir(parents=True)
    (coll / "galaxy.yml").write_text(yaml.safe_dump({"namespace": "acme", "name": name, "version": "1.0.0"}))
    (coll / "meta" / "kraken.yml").write_text(yaml.safe_dump({"state": state}))
    for role, meta in {**roles, **(raw or {})}.items():
        role_dir = coll / "roles" / role
        (role_dir / "meta").mkdir(parents=True)
        (role_dir / "tasks").mkdir()
        text = meta if isinstance(meta, str) else yaml.safe_dump(meta, sort_keys=False)
        (role_dir / "meta" / "kraken.yml").write_text(text)
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            continue  # deliberately broken metadata: no tasks to write
        for entry in (data.get("mutations") or []) + (data.get("probes") or []):
            if isinstance(entry, dict) and entry.get("name") not in skip_tasks:
                (role_dir / "tasks" / f"{entry.get('name')}.yml").write_text("---\n[]\n")
    return root


def problems_of(root: Path, *, graph: bool = False) -> list[str]:
    with pytest.raises(CatalogError) as info:
        if graph:
            load_graph([root])
        else:
            Catalog.load([root])
    return [str(p) for p in info.value.problems]


def test_a_sound_catalog_loads(tmp_path: Path) -> None:
    catalog, graph = load_graph([write_collection(tmp_path, {"power": POWER}, {"power": power_role()})])
    assert set(catalog.mutations) == {"acme.test.power:discover", "acme.test.power:power_on",
                                      "acme.test.power:power_off"}
    assert graph.graph.number_of_nodes() == 3


def test_the_shipped_collections_validate() -> None:
    catalog, _graph = load_graph([Path("collections")])
    assert {"power", "runstate", "busy", "platform", "pxe", "image", "image_name"} <= set(catalog.variables)
    assert catalog.is_filter("platform") and catalog.is_filter("busy") and not catalog.is_filter("power")


def test_unknown_variable_is_named_with_a_suggestion_and_line(tmp_path: Path) -> None:
    role = power_role()
    role["mutations"][1]["requires"] = {"powr": "POWER_OFF"}
    [problem] = problems_of(write_collection(tmp_path, {"power": POWER}, {"power": role}))
    assert "unknown variable 'powr'" in problem
    assert "did you mean power?" in problem
    assert re.search(r"roles/power/meta/kraken\.yml:\d+", problem)
    assert "acme.test.power:power_on requires.powr" in problem


def test_value_not_in_the_enum(tmp_path: Path) -> None:
    role = power_role()
    role["mutations"][1]["mutates"]["power"]["to"] = "POWER_ONN"
    [problem] = problems_of(write_collection(tmp_path, {"power": POWER}, {"power": role}))
    assert "'POWER_ONN' is not a value of power" in problem
    assert "use one of UNKNOWN, POWER_OFF, POWER_ON (did you mean POWER_ON?)" in problem


def test_mutating_a_config_only_variable(tmp_path: Path) -> None:
    role = power_role()
    role["mutations"].append({"name": "move", "mutates": {"platform": {"from": "a", "to": "b"}}})
    state = {"power": POWER, "platform": {"config": True}}
    problems = problems_of(write_collection(tmp_path, state, {"power": role}))
    assert any("platform is config-only" in p and "cannot be mutated" in p for p in problems)


def test_mutated_variable_also_in_requires(tmp_path: Path) -> None:
    role = power_role()
    role["mutations"][1]["requires"] = {"power": "POWER_OFF"}
    [problem] = problems_of(write_collection(tmp_path, {"power": POWER}, {"power": role}))
    assert "power is mutated by this mutation and also in requires" in problem
    assert "fix: remove power from requires" in problem


def test_failto_value_that_is_not_a_node_of_the_graph(tmp_path: Path) -> None:
    state = {"power": {"values": ["UNKNOWN", "POWER_OFF", "POWER_ON", "HANG"]}}
    role = power_role()
    role["mutations"][1].update({"timeout": "10s", "failto": {"power": "HANG"}})
    [problem, *rest] = problems_of(write_collection(tmp_path, state, {"power": role}), graph=True)
    assert "power=HANG is not a state of the graph" in problem
    assert "acme.test.power:power_on failto.power" in problem
    assert "add a mutation out of power=HANG" in problem
    # HANG is also a discoverable value with no way out: reported in the same run
    assert any("a node discovered with power=HANG can never converge" in p for p in rest)


def test_discoverable_value_that_no_mutation_leaves(tmp_path: Path) -> None:
    """The original Layercake's gap: nothing leads out of runstate ERROR."""
    state = {"power": POWER, "runstate": {"values": ["UNKNOWN", "INIT", "SYNC", "ERROR"]}}
    runstate = {"mutations": [
        {"name": "boot", "mutates": {"runstate": {"from": "UNKNOWN", "to": "INIT"}}, "requires": {"power": "POWER_ON"}},
        {"name": "sync", "mutates": {"runstate": {"from": "INIT", "to": "SYNC"}}, "requires": {"power": "POWER_ON"}},
        {"name": "desync", "mutates": {"runstate": {"from": "SYNC", "to": "INIT"}}},
    ]}
    problems = problems_of(write_collection(tmp_path, state, {"power": power_role(), "runstate": runstate}),
                           graph=True)
    assert len(problems) == 1
    assert "a node discovered with runstate=ERROR can never converge: no mutation leads out of it" in problems[0]
    assert "add a mutation with `from: ERROR` for runstate, or list ERROR under `terminal:`" in problems[0]


def test_terminal_values_are_allowed_dead_ends(tmp_path: Path) -> None:
    state = {"power": {**POWER, "values": [*POWER["values"], "FAILED"], "terminal": ["FAILED"]}}
    load_graph([write_collection(tmp_path, state, {"power": power_role()})])


def test_duplicate_ids(tmp_path: Path) -> None:
    role = power_role()
    role["mutations"].append({"name": "power_on", "mutates": {"power": {"from": "POWER_OFF", "to": "POWER_ON"}}})
    [problem] = problems_of(write_collection(tmp_path, {"power": POWER}, {"power": role}))
    assert "duplicate id acme.test.power:power_on" in problem


def test_missing_tasks_file(tmp_path: Path) -> None:
    root = write_collection(tmp_path, {"power": POWER}, {"power": power_role()}, skip_tasks=("power_off",))
    [problem] = problems_of(root)
    assert re.search(r"tasks file .*roles/power/tasks/power_off\.yml does not exist", problem)


def test_yaml_boolean_where_an_enum_value_belongs(tmp_path: Path) -> None:
    raw = """\
mutations:
  - name: discover
    mutates: {power: {from: UNKNOWN, to: POWER_OFF}}
  - name: power_on
    mutates: {power: {from: POWER_OFF, to: ON}}
"""
    [problem] = problems_of(write_collection(tmp_path, {"power": POWER}, {}, raw={"power": raw}))
    assert "roles/power/meta/kraken.yml:5" in problem
    assert "mutations[1].mutates.power.to" in problem
    assert "got the YAML boolean true where an enum value belongs" in problem
    assert "ON/OFF/YES/NO" in problem and "power takes UNKNOWN, POWER_OFF, POWER_ON" in problem


def test_unknown_key_lists_the_known_ones(tmp_path: Path) -> None:
    role = power_role()
    role["mutations"][2]["exclude"] = {"power": "POWER_OFF"}
    [problem] = problems_of(write_collection(tmp_path, {"power": POWER}, {"power": role}))
    assert "unknown key 'exclude'" in problem
    assert "excludes" in problem and "requires" in problem


def test_timeout_without_failto(tmp_path: Path) -> None:
    role = power_role()
    role["mutations"][1]["timeout"] = "10s"
    [problem] = problems_of(write_collection(tmp_path, {"power": POWER}, {"power": role}))
    assert "a timeout without failto" in problem


def test_mutated_variable_without_discovery(tmp_path: Path) -> None:
    role = power_role()
    del role["mutations"][0]
    [problem] = problems_of(write_collection(tmp_path, {"power": POWER}, {"power": role}))
    assert "power is mutated but no mutation discovers it" in problem
    assert "`from: UNKNOWN`" in problem


def test_conflicting_declarations_across_collections(tmp_path: Path) -> None:
    write_collection(tmp_path, {"power": POWER}, {"power": power_role()}, name="one")
    write_collection(tmp_path, {"power": {"values": ["UNKNOWN", "ON_", "OFF_"]}}, {}, name="two")
    [problem] = problems_of(tmp_path)
    assert "acme.two declares variable power differently from acme.one" in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    role = power_role()
    role["mutations"][0]["requires"] = {"colour": "RED"}
    role["mutations"][1]["mutates"]["power"]["to"] = "POWER_UP"
    role["mutations"][2]["excludes"] = {"power": "POWER_OFF"}
    problems = problems_of(write_collection(tmp_path, {"power": POWER}, {"power": role}))
    assert len(problems) == 3


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    [problem] = problems_of(write_collection(tmp_path, {"power": POWER}, {}, raw={"power": "mutations: [\n"}))
    assert "roles/power/meta/kraken.yml: is not valid YAML" in problem


def test_a_path_without_collections(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path)
    assert "holds no collection" in problem


def test_installed_collections_path_layout(tmp_path: Path) -> None:
    """A folder holding ansible_collections/<ns>/<name> (what ansible-galaxy installs) loads too."""
    write_collection(tmp_path / "ansible_collections", {"power": POWER}, {"power": power_role()})
    assert "acme.test.power:power_on" in Catalog.load([tmp_path]).mutations
    assert "acme.test.power:power_on" in Catalog.load([tmp_path / "ansible_collections"]).mutations
    assert "acme.test.power:power_on" in Catalog.load([tmp_path / "ansible_collections" / "acme" / "test"]).mutations


def test_a_probe_requiring_an_unknown_variable_or_value_is_named_with_its_line(tmp_path: Path) -> None:
    role = power_role(probes=[{"name": "check", "requires": {"powr": "POWER_ON"}},
                              {"name": "look", "requires": {"power": "POWER_ONN"}}])
    problems = problems_of(write_collection(tmp_path, {"power": POWER}, {"power": role}))
    assert len(problems) == 2, problems
    unknown, value = sorted(problems, key=lambda p: "powr" not in p)
    assert "acme.test.power:check requires.powr" in unknown and "did you mean power?" in unknown
    assert re.search(r"roles/power/meta/kraken\.yml:\d+", unknown)
    assert "acme.test.power:look requires.power" in value and "'POWER_ONN' is not a value of power" in value


def test_probes_load_with_their_conditions_and_what_they_report(tmp_path: Path) -> None:
    role = power_role(probes=[{"name": "check", "requires": {"power": "POWER_ON"}, "context": "child"}])
    catalog = Catalog.load([write_collection(tmp_path, {"power": POWER}, {"power": role})])
    probe = catalog.probes["acme.test.power:check"]  # type: ignore[index]
    assert probe.requires == {"power": "POWER_ON"} and probe.reports == frozenset({"power"})
    assert probe.summary() == "observes power" and re.search(r"kraken\.yml:\d+", probe.where)
