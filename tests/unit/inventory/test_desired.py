"""load_inventory: desired state exactly as ansible-core resolves it, and every kind of bad value reported at
its file:line. Real ansible-core on inventories the tests write; ansible's CLI is the oracle where it matters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import InventoryError, Problem
from reconciler.inventory import RESERVED_SETTINGS, InventoryState, load_inventory
from reconciler.inventory.desired import is_reserved
from reconciler.model.catalog import Catalog

BIN = Path(sys.executable).parent


def ansible_cli(tool: str, *args: str, cwd: Path) -> str:
    """Run one of ansible-core's own command-line tools from this virtualenv."""
    done = subprocess.run([str(BIN / tool), *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=True)
    return done.stdout


def problems_of(source: Path, catalog: Catalog, **kwargs: Any) -> list[Problem]:
    with pytest.raises(InventoryError) as caught:
        load_inventory(source, catalog, **kwargs)
    return caught.value.problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


# -- precedence: what ansible resolves ----------------------------------------------------------------------


def test_varied_inventory_resolves_as_documented(varied_inventory: Path, lab_catalog: Catalog,
                                                 varied_expected: dict[str, dict[str, dict[str, str]]]) -> None:
    state = load_inventory(varied_inventory, lab_catalog)
    assert set(state.hosts) == set(varied_expected)
    for name, expected in varied_expected.items():
        host = state.hosts[name]
        assert (host.desired, host.config) == (expected["desired"], expected["config"]), name


def test_kraken_variables_match_ansible_inventory_list_and_host(varied_inventory: Path,
                                                                lab_catalog: Catalog) -> None:
    state = load_inventory(varied_inventory, lab_catalog)
    cwd = varied_inventory.parent  # no group_vars/ here: nothing playbook-adjacent for the CLI either
    listed = json.loads(ansible_cli("ansible-inventory", "-i", str(varied_inventory), "--list", cwd=cwd))
    for name, host in state.hosts.items():
        theirs = {k: v for k, v in listed["_meta"]["hostvars"][name].items()
                  if k.startswith("kraken_") and not is_reserved(k)}
        ours = {f"kraken_{k}": v for k, v in {**host.desired, **host.config}.items()}
        assert ours == theirs, name
    one = json.loads(ansible_cli("ansible-inventory", "-i", str(varied_inventory), "--host", "b2", cwd=cwd))
    assert json.loads(json.dumps(state.hostvars("b2"))) == one
    assert one["kraken_pxe"] == state.hosts["b2"].desired["pxe"] == "INIT"


def test_hosts_come_in_the_order_the_sources_name_them(varied_inventory: Path, lab_catalog: Catalog) -> None:
    state = load_inventory(varied_inventory, lab_catalog)
    assert list(state.hosts) == ["a1", "a2", "a3", "b1", "b2", "c1", "b3", "d1"]  # hosts.yml, then more.ini
    listed = ansible_cli("ansible", "all", "-i", str(varied_inventory), "--list-hosts", cwd=varied_inventory.parent)
    assert set(state.hosts) == {line.strip() for line in listed.splitlines()[1:] if line.strip()}
    assert list(load_inventory(varied_inventory, lab_catalog, limit="gpu:hot").hosts) == ["a2", "b1", "b2"]


def test_origins_name_the_file_and_line_that_won(varied_inventory: Path, lab_catalog: Catalog) -> None:
    hosts = load_inventory(varied_inventory, lab_catalog).hosts
    assert hosts["a3"].origins["power"] == f"{varied_inventory / 'host_vars/a3.yml'}:1"
    assert hosts["b1"].origins["pxe"] == f"{varied_inventory / 'host_vars/b1/vars.yml'}:1"
    assert hosts["b1"].origins["image_name"] == f"{varied_inventory / 'group_vars/rack2/extra.yml'}:1"
    assert hosts["b3"].origins["pxe"] == f"{varied_inventory / 'more.ini'}:2"
    hosts_yml = (varied_inventory / "hosts.yml").read_text().splitlines()
    line = int(hosts["a1"].origins["power"].rpartition(":")[2])
    assert hosts_yml[line - 1].strip() == "kraken_power: POWER_ON"
    # a boolean cannot carry a tag: its origin comes from the key of the layer that set it
    assert hosts["c1"].origins["agent"].startswith(f"{varied_inventory / 'hosts.yml'}:")


def test_unset_variables_are_unmanaged_and_reserved_settings_are_not_state(varied_inventory: Path,
                                                                            lab_catalog: Catalog) -> None:
    hosts = load_inventory(varied_inventory, lab_catalog).hosts
    assert "pxe" not in hosts["c1"].desired
    assert hosts["c1"].agent is False and hosts["a1"].agent is None
    assert all("bmc_address" not in h.config and "bmc_address" not in h.desired for h in hosts.values())
    assert "kraken_agent" in RESERVED_SETTINGS
    assert is_reserved("kraken_redfish_password") and is_reserved("kraken_mac") and is_reserved("kraken_key_file")
    assert not is_reserved("kraken_powr")


def test_hostvars_are_ansibles_full_view_on_demand(varied_inventory: Path, lab_catalog: Catalog) -> None:
    state = load_inventory(varied_inventory, lab_catalog)
    hostvars = state.hostvars("b2")
    assert hostvars["ansible_host"] == "10.0.0.2"
    assert hostvars["kraken_bmc_address"] == "192.0.2.1"
    assert "inventory_hostname" not in hostvars  # internal, as ansible-inventory --host leaves it out
    with pytest.raises(KeyError):
        state.hostvars("nope")
    assert InventoryState(source=Path("x"), hosts={}).hosts == {}


def test_a_single_file_inventory_works(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"site.yml": "all:\n  hosts:\n    h1: {kraken_power: POWER_ON}\n",
                              "group_vars/all.yml": "kraken_platform: ipmi\n"})
    state = load_inventory(folder / "site.yml", lab_catalog)
    assert state.hosts["h1"].desired == {"power": "POWER_ON"}
    assert state.hosts["h1"].config == {"platform": "ipmi"}  # group_vars/ next to the file is read too


def test_the_real_catalog_accepts_its_own_variables(write_inventory: Any, real_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": """
        all:
          vars: {kraken_power: POWER_ON, kraken_runstate: SYNC, kraken_pxe: INIT, kraken_image: ACTIVE,
                 kraken_platform: ipmi, kraken_image_name: rocky9, kraken_bmc_address: 127.0.0.1}
          hosts: {n1: , n2: {kraken_image: IDLE}}
    """})
    hosts = load_inventory(folder, real_catalog).hosts
    assert hosts["n1"].desired == {"power": "POWER_ON", "runstate": "SYNC", "pxe": "INIT", "image": "ACTIVE"}
    assert hosts["n2"].desired["image"] == "IDLE"
    assert hosts["n1"].config == {"platform": "ipmi", "image_name": "rocky9"}


# -- limit: Ansible's own host patterns ----------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "expected"), [
    ("all", {"a1", "a2", "a3", "b1", "b2", "b3", "c1", "d1"}),
    ("b*", {"b1", "b2", "b3"}),
    ("a*", {"a1", "a2", "a3", "b1", "b2", "b3", "c1", "d1"}),  # as in Ansible: a* also matches the group "all"
    ("rack1:&gpu", {"a2"}),
    ("lab:!gpu", {"a1", "a3", "b3"}),
    ("!b2", {"a1", "a2", "a3", "b1", "b3", "c1", "d1"}),
    ("~[bc][13]", {"b1", "b3", "c1"}),
    ("a1,d1", {"a1", "d1"}),
    ("rack2,hot", {"b1", "b2", "b3"}),
])
def test_limit_uses_ansible_host_patterns(varied_inventory: Path, lab_catalog: Catalog, pattern: str,
                                          expected: set[str]) -> None:
    assert set(load_inventory(varied_inventory, lab_catalog, limit=pattern).hosts) == expected


def test_limit_from_a_file(varied_inventory: Path, lab_catalog: Catalog, tmp_path: Path) -> None:
    (tmp_path / "retry").write_text("a1\nb2\n")
    assert set(load_inventory(varied_inventory, lab_catalog, limit=f"@{tmp_path / 'retry'}").hosts) == {"a1", "b2"}


def test_limit_matching_nothing_is_an_error(varied_inventory: Path, lab_catalog: Catalog) -> None:
    problem = only(problems_of(varied_inventory, lab_catalog, limit="nosuch*"))
    assert "nosuch*" in problem.key and "matches no host" in problem.message


def test_a_limit_only_checks_the_hosts_it_selects(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    good: {kraken_power: POWER_ON}\n"
                                           "    bad: {kraken_power: SIDEWAYS}\n"})
    assert set(load_inventory(folder, lab_catalog, limit="good").hosts) == {"good"}
    assert only(problems_of(folder, lab_catalog)).key == "bad"


# -- every error names host, variable, value and the file it came from ---------------------------------------


def test_unknown_variable_gets_a_did_you_mean(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1:\n      kraken_powr: POWER_ON\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert problem.where == f"{folder / 'hosts.yml'}:4"
    assert problem.key == "h1"
    assert "kraken_powr" in problem.message and "POWER_ON" in problem.message
    assert "did you mean kraken_power?" in problem.fix


def test_value_not_in_the_enum(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1:\n",
                              "group_vars/all.yml": "# desired\nkraken_power: power_on\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert problem.where == f"{folder / 'group_vars/all.yml'}:2"
    assert problem.key == "h1"
    assert "kraken_power" in problem.message and "'power_on'" in problem.message
    assert "did you mean POWER_ON?" in problem.fix and "POWER_OFF" in problem.fix
    assert "UNKNOWN" not in problem.fix  # the unknown value is never offered as a desire


def test_yaml_boolean_gets_the_hint_and_the_file(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1:\n    h2:\n",
                              "host_vars/h2.yml": "kraken_power: ON\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert problem.where == f"{folder / 'host_vars/h2.yml'}:1"
    assert problem.key == "h2"
    assert "kraken_power" in problem.message and "ON" in problem.message and "boolean true" in problem.message
    assert "YAML 1.1 reads unquoted ON/OFF" in problem.fix
    assert "POWER_OFF, POWER_ON" in problem.fix and "write POWER_ON" in problem.fix
    assert str(folder / "host_vars/h2.yml") in str(InventoryError([problem]))


def test_boolean_inherited_by_many_hosts_is_one_problem_listing_them(write_inventory: Any,
                                                                      lab_catalog: Catalog) -> None:
    hosts = "".join(f"        n{i}:\n" for i in range(8))
    folder = write_inventory({"hosts.yml": f"all:\n  children:\n    rack:\n      vars:\n        kraken_power: off\n"
                                           f"      hosts:\n{hosts}"})
    problem = only(problems_of(folder, lab_catalog))
    assert problem.where == f"{folder / 'hosts.yml'}:5"
    assert problem.key.startswith("n0, n1, n2, n3, n4") and "3 more hosts" in problem.key
    assert "write POWER_OFF" in problem.fix


def test_busy_cannot_be_desired(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1:\n      kraken_busy: FREE\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert (problem.where, problem.key) == (f"{folder / 'hosts.yml'}:4", "h1")
    assert "kraken_busy" in problem.message and "busy is only ever discovered; it cannot be desired" in problem.message


def test_the_unknown_value_cannot_be_desired(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1:\n      kraken_power: UNKNOWN\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert "UNKNOWN is the unknown value of power" in problem.message and "remove kraken_power" in problem.fix


def test_config_values_are_restricted_when_declared(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1:\n      kraken_platform: ipmii\n"
                                           "      kraken_image_name: 42\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert (problem.where, problem.key) == (f"{folder / 'hosts.yml'}:4", "h1")
    assert "kraken_platform" in problem.message and "'ipmii'" in problem.message
    assert "did you mean ipmi?" in problem.fix and "redfish" in problem.fix
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1:\n      kraken_image_name: 42\n"})
    assert load_inventory(folder, lab_catalog).hosts["h1"].config == {"image_name": "42"}  # stringified


@pytest.mark.parametrize(("text", "expected"), [
    ("kraken_power: 3", "3 (int) is not a value of power"),
    ("kraken_power:", "an empty value is not a value of power"),
    ("kraken_power: '{{ wanted }}'", "is a template"),
    ("kraken_image_name: [a, b]", "is not a single value"),
    ("kraken_image_name: yes", "YAML boolean true"),
    ("kraken_agent: maybe", "kraken_agent: 'maybe' is not a boolean"),
])
def test_other_bad_values(write_inventory: Any, lab_catalog: Catalog, text: str, expected: str) -> None:
    folder = write_inventory({"hosts.yml": f"all:\n  hosts:\n    h1:\n      {text}\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert expected in problem.message and problem.key == "h1"
    assert problem.where.startswith(str(folder / "hosts.yml"))


def test_all_problems_of_all_hosts_at_once(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1: {kraken_power: NO_SUCH}\n"
                                           "    h2: {kraken_busy: BUSY, kraken_pxee: WAIT}\n"})
    problems = problems_of(folder, lab_catalog)
    assert [(p.key, p.message.split(":")[0]) for p in problems] == [
        ("h1", "kraken_power"), ("h2", "kraken_busy"), ("h2", "unknown variable kraken_pxee (value 'WAIT')")]


def test_missing_inventory(tmp_path: Path, lab_catalog: Catalog) -> None:
    problem = only(problems_of(tmp_path / "nowhere", lab_catalog))
    assert problem.where == str(tmp_path / "nowhere") and "does not exist" in problem.message


def test_a_folder_without_any_inventory_file(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"group_vars/all.yml": "kraken_power: POWER_ON\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert problem.where == str(folder) and "holds no inventory" in problem.message


def test_unparseable_inventory_reports_ansibles_message(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1: {kraken_power: POWER_ON\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert problem.where.endswith("hosts.yml")
    assert "could not parse" in problem.message and "YAML parsing failed" in problem.message
    assert f"Origin: {folder / 'hosts.yml'}:4" in problem.message


def test_one_unparseable_file_in_a_folder_fails_the_whole_inventory(write_inventory: Any,
                                                                    lab_catalog: Catalog) -> None:
    folder = write_inventory({"good.yml": "all:\n  hosts:\n    h1:\n", "broken.yml": "all: [\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert problem.where == str(folder / "broken.yml")


def test_broken_group_vars_file_is_located(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1:\n    h2:\n",
                              "group_vars/all.yml": "kraken_power: [POWER_ON\n"})
    problem = only(problems_of(folder, lab_catalog))
    assert problem.where.startswith(f"{folder / 'group_vars/all.yml'}:")
    assert problem.key == "h1, h2" and "YAML parsing failed" in problem.message


def test_warnings_are_collected_not_printed(write_inventory: Any, lab_catalog: Catalog,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1:\n  host:\n    h2:\n"})
    state = load_inventory(folder, lab_catalog)
    assert list(state.hosts) == ["h1"]
    assert any("host" in w for w in state.warnings)
    assert capfd.readouterr().err == ""


def test_a_group_vars_folder_created_later_is_seen_on_reload(write_inventory: Any, lab_catalog: Catalog) -> None:
    folder = write_inventory({"hosts.yml": "all:\n  hosts:\n    h1:\n"})
    assert load_inventory(folder, lab_catalog).hosts["h1"].desired == {}
    write_inventory({"group_vars/all/power.yml": "kraken_power: POWER_ON\n"})
    assert load_inventory(folder, lab_catalog).hosts["h1"].desired == {"power": "POWER_ON"}
    write_inventory({"group_vars/all/pxe.yml": "kraken_pxe: WAIT\n"})
    assert load_inventory(folder, lab_catalog).hosts["h1"].desired == {"power": "POWER_ON", "pxe": "WAIT"}


def test_role_parameters_may_be_set_but_typos_still_fail(tmp_path: Path) -> None:
    """kraken_pxe_boot_wait is a parameter of a catalog role (its defaults): an inventory may set it."""
    catalog = Catalog.load([Path("collections")])
    assert "kraken_pxe_boot_wait" in catalog.role_settings
    inventory = tmp_path / "inv"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    n1:\n")
    (inventory / "group_vars" / "all.yml").write_text(
        "kraken_pxe_boot_wait: 30\nkraken_platform: ipmi\nkraken_image_name: img-1\nkraken_power: POWER_ON\n")
    host = load_inventory(inventory, catalog).hosts["n1"]
    assert host.config == {"platform": "ipmi", "image_name": "img-1"} and host.desired == {"power": "POWER_ON"}
    (inventory / "group_vars" / "all.yml").write_text("kraken_pxe_boot_wiat: 30\n")
    with pytest.raises(InventoryError, match="did you mean kraken_pxe_boot_wait"):
        load_inventory(inventory, catalog)
